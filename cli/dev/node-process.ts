import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { writeSecretFile } from '../../core/auth/secrets.js';
import { once } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConflictError, MeshError } from '../../core/errors.js';
import { findNode, joinTokenFor, managerAddrs, type DevCluster, type DevNode } from './cluster.js';
import { cmdlineOf, hasFlag, procState, readPidFile, signal, waitForExit } from './proc.js';
import { run } from '../../core/exec.js';
import { netnsMountsUnder, pidsInNetns } from '../../core/netns.js';
import { bridgePortName } from './underlay.js';

/** Starting, stopping and killing one node's meshd: a detached process in the node's namespace. */

/** The checkout: the first directory up from this module (source or dist bundle) holding bin/meshd.js. */
export const REPO_ROOT = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'meshd.js'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no bin/meshd.js above ${from}`);
  }
}
export const STOP_TIMEOUT_MS = 10_000;
/** `<state dir>/join-token` (mode 0600): how dev hands a joining node its token. */
export const DEV_TOKEN_FILE = 'join-token';
const KILL_WAIT_MS = 5_000;

export function defaultMeshdCommand(): string[] {
  return [process.execPath, resolve(REPO_ROOT, 'bin', 'meshd.js')];
}

/** meshd's flags for one node, followed by the cluster's extra meshd args. */
export function meshdArgsFor(cluster: DevCluster, node: DevNode): string[] {
  return [
    '--node-name', node.hostname,
    // dev managers also run tasks, as Swarm managers do
    '--role', node.role === 'manager' ? 'both' : 'worker',
    '--advertise-addr', node.addr,
    '--join', managerAddrs(cluster),
    '--state-dir', node.stateDir,
    '--run-dir', node.runDir,
    ...cluster.meshdArgs,
  ];
}

/**
 * Pid reuse guard: the process must still carry this node's `--node-name` and `--state-dir` (the
 * state dir is unique per cluster, so node-1 of another cluster never matches).
 */
export function looksLikeNode(argv: readonly string[], node: DevNode): boolean {
  return hasFlag(argv, '--node-name', node.hostname) && hasFlag(argv, '--state-dir', node.stateDir);
}

/** meshd's pid when the pid file names a live process that is still this node's meshd. */
export async function runningPid(node: DevNode): Promise<number | undefined> {
  const pid = await readPidFile(node.pidFile);
  if (pid === undefined) return undefined;
  const argv = await cmdlineOf(pid);
  return argv !== undefined && looksLikeNode(argv, node) ? pid : undefined;
}

export interface StartNodeOptions {
  /** Overrides cluster.meshdCommand / the default `node bin/meshd.js` (tests use a stub daemon). */
  meshdCommand?: readonly string[];
}

/** Starts meshd on `hostname` (refuses when it already runs); resolves to its pid. */
export async function startNode(cluster: DevCluster, hostname: string, opts: StartNodeOptions = {}): Promise<number> {
  const node = findNode(cluster, hostname);
  const running = await runningPid(node);
  if (running !== undefined) {
    throw new ConflictError(
      `${hostname} of dev cluster "${cluster.name}" is already running (pid ${running}); stop it first with: meshctl dev stop ${hostname}`,
    );
  }
  const command = [...(opts.meshdCommand ?? cluster.meshdCommand ?? defaultMeshdCommand())];
  // A crashed node's link was cut (crashNode): starting it again plugs it back in.
  await run(['ip', 'link', 'set', bridgePortName(node), 'up'], { netns: cluster.underlay.netns });
  const token = await joinTokenFor(cluster, node);
  // The token goes in a file readable by root only: argv is world-readable (/proc/<pid>/cmdline).
  const tokenFile = join(node.stateDir, DEV_TOKEN_FILE);
  if (token) {
    await mkdir(node.stateDir, { recursive: true });
    await writeSecretFile(tokenFile, token + '\n');
  }
  const argv = ['nsenter', `--net=${node.netns}`, '--', ...command, ...meshdArgsFor(cluster, node), ...(token ? ['--join-token-file', tokenFile] : [])];
  const fd = openSync(node.logFile, 'a');
  try {
    writeSync(fd, `--- meshctl dev: starting ${hostname} at ${new Date().toISOString()}: ${argv.slice(3).join(' ')}\n`);
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, MESHD_DEV_CLUSTER: cluster.name },
    });
    const [event, arg] = await Promise.race([once(child, 'spawn').then(() => ['spawn']), once(child, 'error').then((a) => ['error', a[0]])]);
    if (event === 'error' || child.pid === undefined) {
      throw new MeshError(`could not start meshd on ${hostname}: ${String((arg as Error | undefined)?.message ?? arg)}`, { cause: arg });
    }
    child.unref();
    await writeFile(node.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Pids whose process group is `pgid` (meshd and children that stayed in its group). */
export async function pidsInGroup(pgid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = await procState(Number(entry));
    if (st && st.pgrp === pgid && st.state !== 'Z') out.push(Number(entry));
  }
  return out;
}

async function killGroup(pgid: number): Promise<void> {
  signal(-pgid, 'SIGKILL');
  const left = await waitForExit(await pidsInGroup(pgid), KILL_WAIT_MS);
  if (left.length > 0) throw new MeshError(`processes ${left.join(', ')} survived SIGKILL after ${KILL_WAIT_MS} ms`);
}

export interface StopResult {
  hostname: string;
  /** The pid that was stopped, when one was running. */
  pid?: number;
  /** True when SIGTERM was not enough within the timeout. */
  forced: boolean;
}

export interface StopNodeOptions {
  timeoutMs?: number;
}

/** SIGTERM meshd, wait (10 s), then SIGKILL its process group; also sweeps group leftovers. */
export async function stopNode(cluster: DevCluster, hostname: string, opts: StopNodeOptions = {}): Promise<StopResult> {
  const node = findNode(cluster, hostname);
  const pid = await runningPid(node);
  if (pid === undefined) {
    await rm(node.pidFile, { force: true });
    return { hostname, forced: false };
  }
  signal(pid, 'SIGTERM');
  const forced = (await waitForExit([pid], opts.timeoutMs ?? STOP_TIMEOUT_MS)).length > 0;
  await killGroup(pid);
  await rm(node.pidFile, { force: true });
  return { hostname, pid, forced };
}

/** The fault drill: SIGKILL meshd's whole process group at once, no grace. */
export async function killNode(cluster: DevCluster, hostname: string): Promise<StopResult> {
  const node = findNode(cluster, hostname);
  const pid = await runningPid(node);
  if (pid === undefined) {
    await rm(node.pidFile, { force: true });
    return { hostname, forced: false };
  }
  await killGroup(pid);
  await rm(node.pidFile, { force: true });
  return { hostname, pid, forced: true };
}

export interface CrashResult {
  hostname: string;
  /** Every process killed: meshd, its nats-server, every task. */
  killed: number[];
  /** When the crash began (epoch ms): taken just before its link went down. */
  at: number;
}

/**
 * A power failure, for fault drills: the node's underlay link goes down and meshd, nats-server
 * and every task process die at once (SIGKILL); nothing runs any shutdown code. Its namespaces
 * stay as they were. `dev start` plugs the link back in and starts meshd.
 */
export async function crashNode(cluster: DevCluster, hostname: string): Promise<CrashResult> {
  const node = findNode(cluster, hostname);
  // The crash begins as its link goes down: `at` is taken just before (a request in flight then is cut).
  const at = Date.now();
  await run(['ip', 'link', 'set', bridgePortName(node), 'down'], { netns: cluster.underlay.netns });
  const pids = (await pidsInNetns([node.netns, ...(await netnsMountsUnder(dirname(node.runDir)))])).filter((p) => p !== process.pid);
  for (const pid of pids) signal(pid, 'SIGKILL');
  const stuck = await waitForExit(pids, KILL_WAIT_MS);
  if (stuck.length > 0) throw new MeshError(`processes ${stuck.join(', ')} on ${hostname} survived SIGKILL`);
  await rm(node.pidFile, { force: true });
  return { hostname, killed: pids.sort((a, b) => a - b), at };
}
