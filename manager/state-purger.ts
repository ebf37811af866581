import type { KV, KvEntry } from 'nats';
import type { Buckets } from '../core/state/buckets.js';
import type { Logger } from '../core/log.js';

/** How often the leader sweeps delete markers, and how old a marker must be to go. */
export const PURGE_EVERY_MS = 15_000;
/**
 * A marker younger than this stays: a mirror's live watch must still be able to see it. A watch
 * this far behind is restarted by KvMirror's stall check long before (two checks 1.5 s apart), and
 * a restarted watch rebuilds from a snapshot, in which a purged key is simply absent.
 */
export const PURGE_OLDER_THAN_MS = 30_000;
/** A sweep of one bucket that has not finished its snapshot in this long is abandoned. */
const SWEEP_TIMEOUT_MS = 10_000;

/**
 * Keeps the streams bounded: every bucket has history 1, but a delete leaves a marker message
 * forever (and `readAll` lists each marker's subject). The leader purges markers older than
 * PURGE_OLDER_THAN_MS, so after a stack is removed the streams go back to their size before it.
 */
export class StatePurger {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  /** Per bucket: the markers the last sweep saw, `key@revision` -> when first seen (monotonic ms). */
  private readonly seen = new Map<string, Map<string, number>>();
  /** Per bucket: the stream's last sequence at the last sweep (unchanged + nothing waiting = skip). */
  private readonly lastSeq = new Map<string, number>();

  constructor(
    private readonly deps: {
      buckets: Buckets;
      log: Logger;
      everyMs?: number;
      olderThanMs?: number;
      /** Run after each sweep (the deployer completes commits whose manager died). */
      afterSweep?: () => Promise<void>;
    },
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweepAll()
        .then(() => this.deps.afterSweep?.())
        .catch((err) => this.deps.log.warn('state upkeep failed', { err }))
        .finally(() => (this.running = undefined));
    }, this.deps.everyMs ?? PURGE_EVERY_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sweep of every bucket; returns the number of messages purged. */
  async sweepAll(): Promise<number> {
    let purged = 0;
    for (const [name, kv] of Object.entries(this.deps.buckets) as [string, KV | undefined][]) {
      if (!kv) continue;
      try {
        const prior = this.seen.get(name) ?? new Map<string, number>();
        // An idle bucket costs one stream-info request; the snapshot (a consumer) only when it changed.
        const last = (await kv.status()).streamInfo.state.last_seq;
        if (prior.size === 0 && this.lastSeq.get(name) === last) continue;
        const r = await purgeOldMarkers(kv, { olderThanMs: this.deps.olderThanMs ?? PURGE_OLDER_THAN_MS, prior, now: performance.now() });
        this.seen.set(name, r.remaining);
        this.lastSeq.set(name, last);
        purged += r.purged;
      } catch (err) {
        this.deps.log.debug('purging delete markers failed', { bucket: name, err });
      }
    }
    if (purged) this.deps.log.debug('purged delete markers', { purged });
    return purged;
  }
}

/**
 * nats.js's `purgeDeletes`, with a time limit and no wall clock: the watch's snapshot lists each
 * key's last message; a marker (DEL/PURGE) that earlier sweeps already saw at least `olderThanMs`
 * ago (this process's monotonic clock) is purged from the stream (keep 0), by subject. Returns the
 * markers still waiting, for the next sweep (so the map holds only markers that exist).
 */
export async function purgeOldMarkers(
  kv: KV,
  opts: { olderThanMs: number; prior: ReadonlyMap<string, number>; now: number },
): Promise<{ purged: number; remaining: Map<string, number> }> {
  const inner = kv as unknown as { bucket: string; jsm: { streams: { purge(s: string, o: { filter: string; keep: number }): Promise<{ purged: number }> } } };
  const markers = await snapshotMarkers(kv);
  const remaining = new Map<string, number>();
  let purged = 0;
  for (const e of markers) {
    const id = `${e.key}@${e.revision}`;
    const firstSeen = opts.prior.get(id) ?? opts.now;
    if (opts.now - firstSeen < opts.olderThanMs) {
      remaining.set(id, firstSeen);
      continue;
    }
    purged += (await inner.jsm.streams.purge(`KV_${inner.bucket}`, { filter: `$KV.${inner.bucket}.${e.key}`, keep: 0 })).purged;
  }
  return { purged, remaining };
}

async function snapshotMarkers(kv: KV): Promise<KvEntry[]> {
  const markers: KvEntry[] = [];
  let done!: () => void;
  const initialized = new Promise<void>((r) => (done = r));
  const iter = await kv.watch({ key: '>', initializedFn: () => done() });
  void (async () => {
    for await (const e of iter) if (e.operation !== 'PUT') markers.push(e);
  })().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), SWEEP_TIMEOUT_MS)));
  const outcome = await Promise.race([initialized, timeout]);
  clearTimeout(timer);
  iter.stop();
  if (outcome === 'timeout') throw new Error(`kv snapshot not complete after ${SWEEP_TIMEOUT_MS} ms`);
  return markers;
}
