import { stat } from 'node:fs/promises';
import { NotFoundError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { mountsUnder } from './mounts.js';
import { clearCurrentIf, clusterDirFor, devHome, readCurrent, validateClusterName } from './paths.js';
import { teardownDir } from './teardown.js';

/** `meshctl dev down`: removes everything of one cluster, with or without a working meshd. */

export interface DevDownOptions {
  /** Defaults to the cluster named in `<base>/current`. */
  name?: string;
  log?: Logger;
}

export interface DevDownReport {
  name: string;
  dir: string;
  /** Pids that were signalled (meshd, nats-server, task processes, anything in the namespaces). */
  killed: number[];
  unmounted: string[];
  clearedCurrent: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function resolveName(name: string | undefined): Promise<string> {
  if (name !== undefined) return validateClusterName(name);
  const current = await readCurrent();
  if (current === undefined) {
    throw new NotFoundError(`no current dev cluster (nothing in ${devHome()}/current): pass --name; meshctl dev ls lists clusters`);
  }
  return current;
}

/**
 * Kills every process in any namespace under the cluster dir, unmounts everything there (deepest
 * first), removes the dir and clears `current` when it named this cluster. Works on half-made
 * clusters; NotFoundError only when nothing of the cluster existed. Other clusters are untouched:
 * everything is found under this cluster's own dir.
 */
export async function devDown(opts: DevDownOptions = {}): Promise<DevDownReport> {
  const name = await resolveName(opts.name);
  const dir = clusterDirFor(name);
  const existed = (await exists(dir)) || (await mountsUnder(dir)).length > 0;
  if (!existed) {
    await clearCurrentIf(name);
    throw new NotFoundError(`no dev cluster "${name}" (nothing at ${dir}); meshctl dev ls lists clusters`);
  }
  opts.log?.info('removing dev cluster', { cluster: name, dir });
  const { killed, unmounted } = await teardownDir(dir);
  const clearedCurrent = await clearCurrentIf(name);
  opts.log?.info('removed dev cluster', { cluster: name, killed: killed.length, unmounted: unmounted.length });
  return { name, dir, killed, unmounted, clearedCurrent };
}
