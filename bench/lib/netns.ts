/**
 * Network namespaces the bench owns: bind-mounted files under its work directory (the product's
 * own helpers in core/netns.ts), removed by the cleanup with any process still inside.
 */
import { join } from 'node:path';
import { ensureNetns, pidsInNetns, removeNetns } from '../../core/netns.js';
import { sh, inNs, type Cleanup } from './proc.js';

/** Creates `<workDir>/netns/<name>` with loopback up and registers its removal. */
export async function benchNetns(workDir: string, name: string, cleanup: Cleanup): Promise<string> {
  const path = join(workDir, 'netns', name);
  cleanup.add(`remove namespace ${name}`, () => dropNetns(path));
  await ensureNetns(path);
  return path;
}

/** Kills what still runs in the namespace (only the bench starts processes there), then removes it. */
export async function dropNetns(path: string): Promise<void> {
  for (const pid of await pidsInNetns([path])) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await removeNetns(path);
}

/** `ip` commands in one batch inside the namespace. */
export async function ipBatch(netns: string, lines: readonly string[]): Promise<void> {
  await sh(inNs(netns, ['ip', '-batch', '-']), { input: lines.join('\n') + '\n' });
}
