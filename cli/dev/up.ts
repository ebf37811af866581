import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError, MeshError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { firstManager, planCluster, saveCluster, type DevCluster } from './cluster.js';
import { clusterLogTails } from './logtail.js';
import { runningPid, startNode } from './node-process.js';
import { loadSecrets } from '../../core/auth/secrets.js';
import { devHome, DEFAULT_CLUSTER_NAME, readCurrent, restoreCurrent, writeCurrent } from './paths.js';
import { teardownDir } from './teardown.js';
import { attachNode, createUnderlay } from './underlay.js';

/** `meshctl dev up`: namespaces, bridge, veths, one meshd per node; all undone on any failure. */

export const READY_TIMEOUT_MS = 90_000;
/** How long every meshd must survive right after start before up calls it started. */
const SETTLE_MS = 300;
const WATCH_INTERVAL_MS = 500;

export interface DevUpOptions {
  name?: string;
  nodes: number;
  managers: number;
  meshdArgs?: readonly string[];
  /** Awaited after every meshd started (e.g. "all nodes ready over NATS"); aborted at the timeout. */
  waitReady?: (cluster: DevCluster, signal: AbortSignal) => Promise<void>;
  /** Replaces `node bin/meshd.js` (tests use a stub daemon); kept in cluster.json for restarts. */
  meshdCommand?: readonly string[];
  readyTimeoutMs?: number;
  /** Aborting (e.g. on Ctrl-C) stops waiting and undoes everything. */
  signal?: AbortSignal;
  log?: Logger;
}

/** Claims the cluster dir atomically: a second up of the same name fails here, touching nothing. */
async function claimDir(cluster: DevCluster): Promise<void> {
  await mkdir(devHome(), { recursive: true });
  try {
    await mkdir(cluster.dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new ConflictError(
      `dev cluster "${cluster.name}" already exists (${cluster.dir}); remove it first with: meshctl dev down --name ${cluster.name}`,
    );
  }
}

async function buildNetwork(cluster: DevCluster, opts: DevUpOptions): Promise<void> {
  opts.log?.info('creating underlay', { cluster: cluster.name, netns: cluster.underlay.netns });
  await createUnderlay(cluster);
  for (const node of cluster.nodes) {
    opts.signal?.throwIfAborted();
    opts.log?.info('creating node', { node: node.hostname, addr: node.addr, role: node.role });
    await attachNode(cluster, node);
  }
}

/** Names of nodes whose meshd is not running. */
async function deadNodes(cluster: DevCluster): Promise<string[]> {
  const dead: string[] = [];
  for (const node of cluster.nodes) if ((await runningPid(node)) === undefined) dead.push(node.hostname);
  return dead;
}

/** Waits until the first manager has created the cluster's secrets (the others join with tokens). */
async function awaitClusterCreated(cluster: DevCluster, opts: DevUpOptions): Promise<void> {
  const first = firstManager(cluster);
  const deadline = Date.now() + (opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
  while (!(await loadSecrets(first.stateDir).catch(() => undefined))) {
    opts.signal?.throwIfAborted();
    if ((await runningPid(first)) === undefined) throw new MeshError(`meshd exited on ${first.hostname} before creating the cluster`);
    if (Date.now() > deadline) throw new MeshError(`${first.hostname} did not create the cluster in time`);
    await sleep(100);
  }
}

async function startAll(cluster: DevCluster, opts: DevUpOptions): Promise<void> {
  const first = firstManager(cluster);
  const order = [first, ...cluster.nodes.filter((n) => n !== first)];
  for (const node of order) {
    opts.signal?.throwIfAborted();
    const pid = await startNode(cluster, node.hostname);
    opts.log?.info('started meshd', { node: node.hostname, pid, log: node.logFile });
    // A stub daemon (tests) makes no secrets; the real meshd does before anyone can join.
    if (node === first && !cluster.meshdCommand) await awaitClusterCreated(cluster, opts);
  }
  await sleep(SETTLE_MS);
  const dead = await deadNodes(cluster);
  if (dead.length > 0) throw new MeshError(`meshd exited right after start on ${dead.join(', ')}`);
}

/** Rejects as soon as any node's meshd is gone; resolves when `signal` aborts. */
async function watchNodes(cluster: DevCluster, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const dead = await deadNodes(cluster);
    if (dead.length > 0) throw new MeshError(`meshd exited while waiting for readiness on ${dead.join(', ')}`);
    await sleep(WATCH_INTERVAL_MS, undefined, { signal }).catch(() => undefined);
  }
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** Awaits opts.waitReady, bounded by the timeout, the caller's signal and every meshd staying up. */
async function awaitReady(cluster: DevCluster, opts: DevUpOptions): Promise<void> {
  if (!opts.waitReady) return;
  const ms = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(ms);
  const done = new AbortController();
  const signals = [timeout, done.signal, ...(opts.signal ? [opts.signal] : [])];
  const signal = AbortSignal.any(signals);
  const racers = [opts.waitReady(cluster, signal), watchNodes(cluster, signal), rejectOnAbort(signal)];
  for (const p of racers) p.catch(() => undefined);
  try {
    await Promise.race(racers);
  } catch (err) {
    if (timeout.aborted) throw new MeshError(`dev cluster "${cluster.name}" not ready after ${ms / 1000} s`, { cause: err });
    throw err;
  } finally {
    done.abort(new MeshError('readiness wait finished'));
  }
}

/** Undoes everything up made; a failure here is added to the message, never hides the original. */
async function undo(cluster: DevCluster, previousCurrent: string | undefined, setCurrent: boolean): Promise<string> {
  const problems: string[] = [];
  try {
    await teardownDir(cluster.dir);
  } catch (err) {
    problems.push(`cleanup failed too: ${(err as Error).message}; run: meshctl dev down --name ${cluster.name}`);
  }
  if (setCurrent) await restoreCurrent(previousCurrent).catch((err: Error) => problems.push(err.message));
  return problems.join('\n');
}

/** Brings up a dev cluster; on any failure removes all of it and rethrows with the meshd log tails. */
export async function devUp(opts: DevUpOptions): Promise<DevCluster> {
  const cluster = planCluster({ ...opts, name: opts.name ?? DEFAULT_CLUSTER_NAME });
  await claimDir(cluster);
  const previousCurrent = await readCurrent();
  let setCurrent = false;
  try {
    await buildNetwork(cluster, opts);
    await saveCluster(cluster);
    await startAll(cluster, opts);
    await writeCurrent(cluster.name);
    setCurrent = true;
    await awaitReady(cluster, opts);
    return cluster;
  } catch (err) {
    const tails = await clusterLogTails(cluster).catch(() => '');
    const undoProblems = await undo(cluster, previousCurrent, setCurrent);
    const parts = [`dev up "${cluster.name}" failed: ${(err as Error).message ?? String(err)}`];
    if (undoProblems) parts.push(undoProblems);
    if (tails) parts.push(`meshd logs:\n${tails}`);
    throw new MeshError(parts.join('\n'), { cause: err });
  }
}
