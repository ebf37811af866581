import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { MeshError } from '../../core/errors.js';
import { inNetns } from '../../core/exec.js';
import { findNode, type DevCluster } from './cluster.js';

/** Running commands with inherited stdio inside a dev cluster's namespaces (`meshctl dev exec`). */

/** Set in the environment of everything runInUnderlay starts: the cluster it runs under. */
export const UNDERLAY_ENV = 'MESHD_DEV_UNDERLAY';

export interface InheritExecOptions {
  netns: string;
  argv: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs argv via nsenter in `netns` with inherited stdio; resolves to its exit code (128+signal when
 * killed). While it runs, SIGINT is left to the child (the terminal sends it to both) and
 * SIGTERM/SIGHUP are forwarded, so the caller lives to report the child's exit code.
 */
export function execInherit(opts: InheritExecOptions): Promise<number> {
  if (opts.argv.length === 0) return Promise.reject(new MeshError('exec: no command given'));
  const [file, ...args] = inNetns(opts.netns, opts.argv);
  return new Promise<number>((resolvePromise, reject) => {
    const child = spawn(file!, args, { stdio: 'inherit', env: opts.env ?? process.env });
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const handlers: Array<[NodeJS.Signals, () => void]> = [
      ['SIGINT', () => undefined],
      ['SIGTERM', forward('SIGTERM')],
      ['SIGHUP', forward('SIGHUP')],
    ];
    for (const [sig, h] of handlers) process.on(sig, h);
    const done = () => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    child.once('error', (err) => {
      done();
      reject(new MeshError(`could not run ${opts.argv.join(' ')} in ${opts.netns}: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code, sig) => {
      done();
      resolvePromise(code ?? 128 + (sig ? (osConstants.signals[sig] ?? 0) : 0));
    });
  });
}

function clusterEnv(cluster: DevCluster, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, MESHD_DEV_CLUSTER: cluster.name, ...extra };
}

/** Runs argv in node `hostname`'s namespace (unknown hostname -> NotFoundError listing the valid ones). */
export async function devExec(cluster: DevCluster, hostname: string, argv: readonly string[]): Promise<number> {
  const node = findNode(cluster, hostname);
  return execInherit({ netns: node.netns, argv, env: clusterEnv(cluster) });
}

/** Runs argv in the underlay namespace (where 172.30.0.1 lives and every node is reachable). */
export function underlayExec(cluster: DevCluster, argv: readonly string[]): Promise<number> {
  return execInherit({ netns: cluster.underlay.netns, argv, env: clusterEnv(cluster, { [UNDERLAY_ENV]: cluster.name }) });
}

/**
 * Re-runs a command (typically meshctl itself: `runInUnderlay(c, selfArgv())`) in the underlay
 * namespace with inherited stdio; resolves to its exit code. The child sees MESHD_DEV_CLUSTER and
 * MESHD_DEV_UNDERLAY=<name>.
 */
export function runInUnderlay(cluster: DevCluster, argv: string[]): Promise<number> {
  return underlayExec(cluster, argv);
}

/** The argv that re-runs this very process (node, its flags such as tsx's loader, script, args). */
export function selfArgv(): string[] {
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}

/** True when this process already runs in the cluster's underlay namespace (compares nsfs inodes). */
export async function isInUnderlay(cluster: DevCluster): Promise<boolean> {
  try {
    const [self, underlay] = await Promise.all([stat('/proc/self/ns/net'), stat(cluster.underlay.netns)]);
    return self.ino === underlay.ino && self.dev === underlay.dev;
  } catch {
    return false;
  }
}
