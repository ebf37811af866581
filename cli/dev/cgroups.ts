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

async function removeTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}
