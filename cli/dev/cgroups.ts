import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * Removes cgroup `name` (a top-level one) with its child cgroups, in every hierarchy: the v2
 * tree, or each v1 controller's. Only empty cgroups can go (the kernel refuses the others), so
 * this never touches a process; what is missing or busy is left as it is.
 */
export async function removeCgroup(name: string): Promise<void> {
  const controllers = await readdir(CGROUP_ROOT, { withFileTypes: true }).catch(() => []);
  const roots = [CGROUP_ROOT, ...controllers.filter((d) => d.isDirectory()).map((d) => join(CGROUP_ROOT, d.name))];
  for (const root of roots) await removeTree(join(root, name));
}

/** conmon may still be exiting when its container is removed: a busy cgroup gets this long. */
const BUSY_WAIT_MS = 2_000;

async function removeTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  for (const deadline = Date.now() + BUSY_WAIT_MS; ; ) {
    const err = await rmdir(dir).then(() => undefined, (e: NodeJS.ErrnoException) => e);
    if (err?.code !== 'EBUSY' || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
