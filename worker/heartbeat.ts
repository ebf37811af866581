import { Worker as Thread } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { NatsConnection } from 'nats';
import { HEARTBEAT_INTERVAL_MS, SUBJECTS } from '../core/names.js';
import { encode } from '../core/state/codec.js';
import type { Logger } from '../core/log.js';
import type { FromHeartbeatThread, HeartbeatThreadData, ToHeartbeatThread } from './heartbeat-thread.js';

/** The main thread silent this long (wedged): the heartbeat thread stops beating. */
const MAIN_STALL_LIMIT_MS = 30_000;

/**
 * Where the thread's code is: next to the bundle (`dist/heartbeat-thread.mjs`, built with it), or
 * the TypeScript source loaded through tsx when meshd runs from source.
 */
function threadSource(): { code: string; eval: boolean } | { file: URL; eval: false } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { file: new URL('./heartbeat-thread.mjs', here), eval: false };
  // tsx's ESM entry (import.meta.resolve picks the `import` condition; Node 20.6+).
  const tsx = typeof import.meta.resolve === 'function' ? import.meta.resolve('tsx/esm/api') : pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
  const entry = new URL('./heartbeat-thread.ts', here).href;
  return { code: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, eval: true };
}

/**
 * Runs the node's heartbeat on its own thread and NATS connection (`heartbeat-thread.ts`), so a
 * busy main event loop cannot make a live node look dead.
 *
 * Until the thread's connection is up, beats go out on meshd's main connection (`interim`): the
 * thread takes a few hundred ms to start and connect, seconds on a busy machine, and a meshd
 * restarted after a crash must be heard from before `--node-down-after` runs out (else the
 * leader calls the node down and its tasks move).
 */
export class HeartbeatThread {
  private thread: Thread | undefined;
  private alive: NodeJS.Timeout | undefined;
  private interim: NodeJS.Timeout | undefined;
  private stopped: Promise<void> | undefined;

  constructor(private readonly opts: Omit<HeartbeatThreadData, 'mainStallLimitMs'> & { log: Logger; interim?: Pick<NatsConnection, 'publish'> }) {}

  start(): void {
    const { log, interim, ...rest } = this.opts;
    if (interim) {
      const beat = () => {
        try {
          interim.publish(SUBJECTS.heartbeat(rest.node.id), encode(rest.node));
        } catch {
          // reconnecting: the next beat tries again
        }
      };
      beat();
      this.interim = setInterval(beat, HEARTBEAT_INTERVAL_MS);
      this.interim.unref();
    }
    const workerData: HeartbeatThreadData = { ...rest, mainStallLimitMs: MAIN_STALL_LIMIT_MS };
    const src = threadSource();
    const thread = 'file' in src ? new Thread(src.file, { workerData }) : new Thread(src.code, { eval: true, workerData });
    this.thread = thread;
    this.stopped = new Promise((resolve) => thread.once('exit', () => resolve()));
    thread.on('message', (m: FromHeartbeatThread) => {
      if (m.type === 'warn') log.warn(`heartbeat thread: ${m.msg}`, m.err ? { err: m.err } : {});
      else if (m.type === 'connected') {
        clearInterval(this.interim);
        log.info('heartbeat thread connected');
      }
    });
    thread.on('error', (err) => log.error('heartbeat thread failed', { err }));
    thread.unref();
    const post = (m: ToHeartbeatThread) => thread.postMessage(m);
    this.alive = setInterval(() => post({ type: 'alive' }), HEARTBEAT_INTERVAL_MS);
    this.alive.unref();
  }

  /** Last beat asks managers to wait `restartGraceMs` before calling this node down; then the thread ends. */
  async stop(restartGraceMs: number): Promise<void> {
    if (this.alive) clearInterval(this.alive);
    clearInterval(this.interim);
    const thread = this.thread;
    if (!thread) return;
    this.thread = undefined;
    thread.postMessage({ type: 'stop', restartGraceMs } satisfies ToHeartbeatThread);
    const limit = new Promise<void>((r) => setTimeout(r, 2_000));
    await Promise.race([this.stopped, limit]);
    await thread.terminate();
  }
}
