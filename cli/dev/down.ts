import { stat } from 'node:fs/promises';
import { NotFoundError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { mountsUnder } from './mounts.js';
import { clearCurrentIf, clusterDirFor, devHome, readCurrent, validateClusterName } from './paths.js';
import { teardownDir } from './teardown.js';
import { loadCluster } from './cluster.js';
import { killNode } from './node-process.js';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { removeCgroup } from './cgroups.js';
import { join } from 'node:path';
import { PodmanEngine, SHORT_RUNROOTS, detectPodman } from '../../worker/engine/podman.js';

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
  const runroots = await removeNodeContainers(name, dir, opts.log);
  const { killed, unmounted } = await teardownDir(dir);
  // After the teardown: conmon's exit commands (`podman container cleanup`) recreate a runroot
  // until they are gone.
  for (const r of runroots) await rm(r, { recursive: true, force: true });
  await rmdir(SHORT_RUNROOTS).catch(() => undefined);
  const clearedCurrent = await clearCurrentIf(name);
  opts.log?.info('removed dev cluster', { cluster: name, killed: killed.length, unmounted: unmounted.length });
  return { name, dir, killed, unmounted, clearedCurrent };
}

/**
 * Each node's containers, removed through podman while its store is intact: podman then takes
 * their cgroups, mounts and run-time state with them (killing conmon and the container would
 * leave those behind). A node whose store podman cannot open is left to the teardown.
 */
/** Returns the runroots kept outside the cluster dir, for removal once every process is gone. */
async function removeNodeContainers(name: string, dir: string, log?: Logger): Promise<string[]> {
  const nodes = await readdir(join(dir, 'nodes')).catch(() => [] as string[]);
  const withStore = [];
  for (const node of nodes) if (await exists(join(dir, 'nodes', node, 'state', 'containers', 'storage'))) withStore.push(node);
  if (withStore.length === 0) return [];
  // meshd first: one left running would restart the containers it sees go (restart policy).
  const cluster = await loadCluster(name).catch(() => undefined);
  for (const n of cluster?.nodes ?? []) await killNode(cluster!, n.hostname).catch(() => undefined);
  const runroots: string[] = [];
  for (const node of withStore) {
    const runroot = await removeContainersOf(dir, node, log);
    if (runroot && !runroot.startsWith(`${dir}/`)) runroots.push(runroot);
  }
  return runroots;
}

async function removeContainersOf(dir: string, node: string, log?: Logger): Promise<string | undefined> {
  const stateDir = join(dir, 'nodes', node, 'state');
  const found = await detectPodman({ stateDir, runDir: join(dir, 'nodes', node, 'run') });
  if (!found.ok) return undefined;
  await new PodmanEngine(found.base).removeAll().catch((err: unknown) => log?.warn("could not remove a node's containers", { node, err: String(err) }));
  // The node's cgroup parent (podman leaves the parent and conmon's cgroup behind).
  await removeCgroup(found.base.cgroupParent);
  return found.base.runroot;
}
