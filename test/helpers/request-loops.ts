/**
 * Two request loops that run through an operation on a dev cluster (issue 14's measurement):
 * (a) through the routing mesh, from the underlay namespace to a node's published port, and
 * (b) through the VIP by name, from inside a client task (`meshctl task exec`; a command task
 * sees the host's files, so node and request-loop.mjs are there, and its resolv.conf names the
 * node's embedded DNS; its answer is reused for the TTL, see `dnsCacheMs`). Both GET every
 * `intervalMs` until `stop()`, which returns every request.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { slowdown, type DevCluster } from './dev.js';

const LOOP = resolve(import.meta.dirname, 'request-loop.mjs');

export interface LoopRequest {
  start: number;
  ms: number;
  ok: boolean;
  /** The host name was looked up (or was an address). */
  resolved: boolean;
  /** The TCP connection was established (a failure after that broke a connection). */
  connected: boolean;
  status?: number;
  error?: string;
  code?: string;
}

export interface LoopsReport {
  mesh: LoopRequest[];
  vip: LoopRequest[];
}

export interface RequestLoopsOptions {
  cluster: DevCluster;
  /** e.g. `http://172.30.0.11:8080/`, asked from the underlay namespace. */
  meshUrl: string;
  /** The client task to run the VIP loop in (a name `meshctl task exec` takes). */
  clientTask: string;
  /** e.g. `http://web:8080/`, asked from inside the client task. */
  vipUrl: string;
  intervalMs?: number;
  /** Per request (default 1 s). */
  timeoutMs?: number;
  /** Upper bound on a loop's life if stop() is never called (default 10 min). */
  maxMs?: number;
  /**
   * How long the VIP loop reuses its answer for the name (default 5 s, the embedded DNS's TTL):
   * a caching client. 0: a lookup per request, through libuv's four threads (one lookup that
   * glibc waits 5 s on then queues the rest, and every request behind it times out).
   */
  dnsCacheMs?: number;
}

/** Short lines for a failure message: what failed, when, how. */
export function describeFailures(rs: readonly LoopRequest[]): string[] {
  return rs.map((r) => `${new Date(r.start).toISOString()} ${r.ms} ms resolved=${r.resolved} connected=${r.connected} ${r.status ?? ''} ${r.code ?? ''} ${r.error ?? ''}`);
}

/** The requests that failed, with their errors (for assertions that print what went wrong). */
export function failed(requests: readonly LoopRequest[]): LoopRequest[] {
  return requests.filter((r) => !r.ok);
}

export class RequestLoops {
  private stopped = false;

  private constructor(
    private readonly dir: string,
    private readonly procs: { mesh: ResultPromise; vip: ResultPromise },
  ) {}

  /** Starts both loops and resolves once each has had one successful request. */
  static async start(opts: RequestLoopsOptions): Promise<RequestLoops> {
    const dir = await mkdtemp(join(tmpdir(), 'meshd-loops-'));
    const stopFile = join(dir, 'stop');
    const args = (url: string, dnsCacheMs = 0) => [url, String(opts.maxMs ?? 600_000), String(opts.intervalMs ?? 20), String(opts.timeoutMs ?? 1_000), stopFile, String(dnsCacheMs)];
    const underlay = join(opts.cluster.dir, 'netns', 'underlay');
    const limit = (opts.maxMs ?? 600_000) + 60_000;
    const mesh = execa('nsenter', [`--net=${underlay}`, process.execPath, LOOP, ...args(opts.meshUrl)], { timeout: limit, reject: false });
    const vip = execa(process.execPath, [resolve(import.meta.dirname, '..', '..', 'bin', 'meshctl.js'), 'task', 'exec', opts.clientTask, '--', process.execPath, LOOP, ...args(opts.vipUrl, opts.dnsCacheMs ?? 5_000)], {
      timeout: limit,
      reject: false,
      env: { MESHD_DEV_HOME: opts.cluster.home, MESHD_DEV_CLUSTER: opts.cluster.name },
    });
    const loops = new RequestLoops(dir, { mesh, vip });
    try {
      await Promise.all([readyOf('mesh', mesh), readyOf('vip', vip)]);
    } catch (err) {
      await loops.stop().catch(() => undefined);
      throw err;
    }
    return loops;
  }

  /** Ends both loops (they finish the requests in flight) and returns every request each made. */
  async stop(): Promise<LoopsReport> {
    if (this.stopped) throw new Error('request loops already stopped');
    this.stopped = true;
    try {
      await writeFile(join(this.dir, 'stop'), '');
      const [mesh, vip] = await Promise.all([this.procs.mesh, this.procs.vip]);
      return { mesh: parse('mesh', mesh), vip: parse('vip', vip) };
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  /** For afterAll: stops the loops if a test did not, ignoring their results. */
  async dispose(): Promise<void> {
    if (!this.stopped) await this.stop().catch(() => undefined);
  }
}

/** Resolves when a loop writes `ready` (its first 200); fails if it exits or stays silent. */
function readyOf(name: string, proc: ResultPromise): Promise<void> {
  return new Promise((resolveReady, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${name} loop not ready after ${slowdown(30_000)} ms: ${err}`)), slowdown(30_000));
    proc.stderr?.on('data', (chunk: Buffer) => {
      err += String(chunk);
      if (/^ready$/m.test(err)) {
        clearTimeout(timer);
        resolveReady();
      }
    });
    void proc.then((r) => {
      clearTimeout(timer);
      reject(new Error(`${name} loop exited (${r.exitCode}) before its first answer: ${String(r.stderr)} ${String(r.stdout).slice(0, 500)}`));
    });
  });
}

function parse(name: string, r: { exitCode?: number; stdout: unknown; stderr: unknown }): LoopRequest[] {
  const out = String(r.stdout).trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(out) as LoopRequest[];
  } catch {
    throw new Error(`${name} loop printed no results (exit ${r.exitCode}): ${String(r.stderr).slice(0, 1000)} ${out.slice(0, 500)}`);
  }
}
