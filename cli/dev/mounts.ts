import { mountsUnder } from '../../core/mounts.js';
import { run } from '../../core/exec.js';
import { MeshError } from '../../core/errors.js';

/** Every mount at or below a directory, and unmounting them deepest first. */

export { mountsUnder, type MountEntry } from '../../core/mounts.js';

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
