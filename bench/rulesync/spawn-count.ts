/**
 * Counts the processes the code under test spawns: shims for the tools the appliers run are put
 * first on PATH for the duration of `fn`; each shim logs one line and execs the real tool (same
 * pid), and a tool exec'd by a shimmed one (nsenter -> nft) is the same process, counted once
 * under the tool's name.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sh } from '../lib/proc.js';

const TOOLS = ['nsenter', 'nft', 'ip', 'bridge', 'sysctl', 'ipvsadm', 'iptables-save', 'iptables-restore', 'iptables'];

export interface SpawnCount<T> {
  value: T;
  /** Processes started, by tool. */
  byTool: Record<string, number>;
  total: number;
}

export async function countSpawns<T>(fn: () => Promise<T>): Promise<SpawnCount<T>> {
  const dir = await mkdtemp(join(tmpdir(), 'meshd-bench-shims-'));
  const log = join(dir, 'spawned.log');
  const oldPath = process.env.PATH ?? '';
  try {
    await writeFile(log, '');
    for (const tool of TOOLS) {
      const real = (await sh(['sh', '-c', `command -v ${tool}`], { allowFail: true })).stdout.trim();
      if (!real) continue;
      const shim = join(dir, tool);
      // nsenter execs the tool after `--` in the same process: that tool names the process.
      const name = tool === 'nsenter' ? 'n=; for a; do if [ "$n" = 1 ]; then name=$a; break; fi; [ "$a" = -- ] && n=1; done' : `name=${tool}`;
      await writeFile(shim, `#!/bin/sh\nname=${tool}\n${name}\n[ -n "$BENCH_SHIMMED" ] || echo "$name" >> '${log}'\nexport BENCH_SHIMMED=1\nexec '${real}' "$@"\n`);
      await chmod(shim, 0o755);
    }
    process.env.PATH = `${dir}:${oldPath}`;
    const value = await fn();
    const lines = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
    const byTool: Record<string, number> = {};
    for (const l of lines) byTool[l] = (byTool[l] ?? 0) + 1;
    return { value, byTool, total: lines.length };
  } finally {
    process.env.PATH = oldPath;
    await rm(dir, { recursive: true, force: true });
  }
}
