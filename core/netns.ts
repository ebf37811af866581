import { access, mkdir, readdir, readlink, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { mountsUnder, readMounts } from './mounts.js';
import { dirname, join } from 'node:path';
import { run } from './exec.js';

/**
 * Network namespaces as bind-mounted files under a directory we own (never /run/netns), the way
 * CNI plugins and libnetwork hold a sandbox open without a process in it.
 */

/** True when the path is an nsfs bind mount (a live namespace handle). */
export async function isNetnsMounted(path: string): Promise<boolean> {
  return (await readMounts()).some((m) => m.mountPoint === path && m.fsType === 'nsfs');
}

/**
 * Whether `path` holds a network namespace now: an nsfs bind mount (ours, podman's /run/netns/*),
 * or a live process's /proc/<pid>/ns/net (some runtimes hand CNI that).
 */
export async function netnsExists(path: string): Promise<boolean> {
  if (/^\/proc\/\d+\/(task\/\d+\/)?ns\/net$/.test(path)) return access(path).then(() => true, () => false);
  // /var/run/netns/x (containerd, CRI-O) is /run/netns/x in the mount table.
  const real = await realpath(path).catch(() => undefined);
  return real !== undefined && isNetnsMounted(real);
}

/** The namespace's identity (device and inode of its nsfs file), or undefined when it is gone. */
export async function netnsIdentity(path: string): Promise<string | undefined> {
  const st = await stat(path).catch(() => undefined);
  return st ? `${st.dev}:${st.ino}` : undefined;
}

/**
 * Creates the namespace held by `path` (idempotent); brings its loopback up and turns IPv4
 * forwarding off: a new namespace copies the initial namespace's value (on, on a node where meshd
 * runs), and only namespaces that turn it on again with a forward policy of ours may route.
 */
export async function ensureNetns(path: string): Promise<void> {
  if (await isNetnsMounted(path)) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '', { flag: 'a' });
  await run(['unshare', `--net=${path}`, 'true']);
  await run(['sh', '-c', 'ip link set lo up && echo 0 > /proc/sys/net/ipv4/ip_forward'], { netns: path });
}

/** Removes the namespace held by `path` (idempotent): unmount, then delete the file. */
export async function removeNetns(path: string): Promise<void> {
  if (await isNetnsMounted(path)) {
    await run(['umount', path], { okExitCodes: [32] });
  }
  await rm(path, { force: true });
}

/** Every nsfs mount point at or below `dir`. */
export async function netnsMountsUnder(dir: string): Promise<string[]> {
  return (await mountsUnder(dir)).filter((m) => m.fsType === 'nsfs').map((m) => m.mountPoint);
}

/** Pids of processes whose network namespace is one of the given namespace files. */
export async function pidsInNetns(paths: readonly string[]): Promise<number[]> {
  const inodes = new Set<string>();
  for (const p of paths) {
    try {
      inodes.add(`net:[${(await stat(p)).ino}]`);
    } catch {
      /* already gone */
    }
  }
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (inodes.has(await readlink(join('/proc', entry, 'ns/net')))) pids.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}
