import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../core/errors.js';

/** Where dev clusters live on disk, and the `current` pointer (kind's "current context"). */

export const DEFAULT_DEV_HOME = '/var/lib/meshd/dev';
export const DEFAULT_CLUSTER_NAME = 'mesh';
export const CLUSTER_NAME_RE = /^[a-z0-9][a-z0-9-]{0,15}$/;
export const CLUSTER_FILE = 'cluster.json';
export const CURRENT_FILE = 'current';

/** Base directory: `$MESHD_DEV_HOME`, else /var/lib/meshd/dev. Read on every call (tests set it). */
export function devHome(): string {
  const env = process.env.MESHD_DEV_HOME;
  return env && env.length > 0 ? env : DEFAULT_DEV_HOME;
}

export function validateClusterName(name: string): string {
  if (!CLUSTER_NAME_RE.test(name)) {
    throw new ValidationError([
      `cluster name ${JSON.stringify(name)} is invalid: use 1-16 of a-z, 0-9 and '-', starting with a letter or digit`,
    ]);
  }
  return name;
}

export function clusterDirFor(name: string): string {
  return join(devHome(), validateClusterName(name));
}

export function currentPath(): string {
  return join(devHome(), CURRENT_FILE);
}

/** The name in `<base>/current`, or undefined when there is none (or it is not a valid name). */
export async function readCurrent(): Promise<string | undefined> {
  try {
    const name = (await readFile(currentPath(), 'utf8')).trim();
    return CLUSTER_NAME_RE.test(name) ? name : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function writeCurrent(name: string): Promise<void> {
  await mkdir(devHome(), { recursive: true });
  await writeFile(currentPath(), `${validateClusterName(name)}\n`);
}

/** Clears `current` only when it names `name`; returns whether it did. */
export async function clearCurrentIf(name: string): Promise<boolean> {
  if ((await readCurrent()) !== name) return false;
  await rm(currentPath(), { force: true });
  return true;
}

/** Puts `current` back to what it was before (undefined -> removed). */
export async function restoreCurrent(previous: string | undefined): Promise<void> {
  if (previous === undefined) await rm(currentPath(), { force: true });
  else await writeCurrent(previous);
}
