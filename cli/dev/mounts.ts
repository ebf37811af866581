import { readFile } from 'node:fs/promises';
import { run } from '../../core/exec.js';
import { MeshError } from '../../core/errors.js';

/** Every mount at or below a directory, and unmounting them deepest first. */

export interface MountEntry {
  mountPoint: string;
  fsType: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountPath(raw: string): string {
  return raw.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export async function mountsUnder(dir: string): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(' ');
    const sep = parts.indexOf('-');
    if (parts[4] === undefined || sep < 0) continue;
    const mountPoint = unescapeMountPath(parts[4]);
    if (mountPoint === dir || mountPoint.startsWith(prefix)) {
      out.push({ mountPoint, fsType: parts[sep + 1] ?? '' });
    }
  }
  return out;
}

function depth(path: string): number {
  return path.split('/').length;
}

/**
 * Unmounts everything at or below `dir`, deepest first, repeating for stacked mounts; a mount that
 * stays busy is detached lazily (`umount -l`) so the directory can go. Throws if any remain.
 */
export async function unmountAllUnder(dir: string): Promise<string[]> {
  const done: string[] = [];
  for (let round = 0; round < 8; round++) {
    const mounts = await mountsUnder(dir);
    if (mounts.length === 0) return done;
    mounts.sort((a, b) => depth(b.mountPoint) - depth(a.mountPoint) || b.mountPoint.length - a.mountPoint.length);
    for (const m of mounts) {
      const lazy = round >= 2 ? ['-l'] : [];
      await run(['umount', ...lazy, m.mountPoint], { okExitCodes: [32] });
      done.push(m.mountPoint);
    }
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) {
    throw new MeshError(`could not unmount under ${dir}: ${left.map((m) => m.mountPoint).join(', ')}`);
  }
  return done;
}
