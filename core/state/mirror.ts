import type { KV, KvEntry } from 'nats';
import { decodeEntry, readAll } from './read.js';
import type { RecordKind } from '../wire/records.js';
import { RateLimitedReporter } from '../wire/reporter.js';
import type { Logger } from '../log.js';

const STALL_CHECK_MS = 1_500;

export interface MirrorChange<T> {
  key: string;
  value: T | undefined;
  revision: number;
}

/**
 * A local read-only copy of one KV bucket (or a key filter of it), kept current by a watch.
 * `ready` resolves once the initial snapshot is in, so nothing is programmed from half a state.
 * A broken watch is re-established and the copy rebuilt from a fresh snapshot.
 * Every record is checked against its kind (schema and key): a bad one is reported (once per
 * writer per minute) and treated as absent, as if deleted: keeping the previous value would
 * show a state the bucket no longer holds (a task's old `running` status after its writer
 * replaced it with garbage), and readers already handle absent records. The watch goes on.
 */
export class KvMirror<T> {
  private readonly entries = new Map<string, { value: T; revision: number }>();
  private readonly listeners = new Set<(c: MirrorChange<T>) => void>();
  private stopped = false;
  /** Highest stream sequence the watch has delivered. */
  private seen = 0;
  private lagging = 0;
  /** `seen` at the previous stall check: a watch that delivered anything since is busy, not stalled. */
  private seenAtCheck = 0;
  private iter: { stop(): void } | undefined;
  private checker: NodeJS.Timeout | undefined;
  private readyResolve!: () => void;
  readonly ready: Promise<void>;
  private readonly reporter: RateLimitedReporter;

  constructor(
    private readonly kv: KV,
    private readonly opts: { key?: string; log: Logger; name: string; kind: RecordKind<T>; reporter?: RateLimitedReporter; accept?: (key: string) => boolean },
  ) {
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    this.reporter = opts.reporter ?? new RateLimitedReporter({ log: opts.log });
  }

  start(): this {
    void this.loop();
    if (!this.opts.key) this.checker = setInterval(() => void this.checkLiveness(), STALL_CHECK_MS);
    return this;
  }

  stop(): void {
    this.stopped = true;
    if (this.checker) clearInterval(this.checker);
  }

  /**
   * A watch can stall silently: when the server hosting its ephemeral consumer dies, nats.js's
   * reset may recreate the consumer on that dead peer (nats-server < 2.12). If the stream has
   * moved past what the watch delivered on two checks in a row, and the watch delivered nothing
   * in between, restart the watch. (Behind alone is no stall: under a stream of writes, such as a
   * scale's status reports, a flowing watch is a little behind at every check, and a needless
   * restart re-reads the bucket, whose key list can miss a key written meanwhile: that replica
   * dropped out of the mirror, and so out of DNS and the LBs, until the new watch's snapshot.)
   */
  private async checkLiveness(): Promise<void> {
    try {
      const last = (await this.kv.status()).streamInfo.state.last_seq;
      // Behind at the previous check and still, with nothing delivered in between.
      const behind = last > this.seen;
      const stuck = behind && this.lagging > 0 && this.seen === this.seenAtCheck;
      this.lagging = behind ? 1 : 0;
      this.seenAtCheck = this.seen;
      if (stuck) {
        this.opts.log.warn('kv watch stalled; restarting it', { bucket: this.opts.name, behind: last - this.seen });
        this.lagging = 0;
        this.iter?.stop();
      }
    } catch {
      // server unreachable: the watch loop handles reconnection
    }
  }

  onChange(fn: (c: MirrorChange<T>) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get(key: string): T | undefined {
    return this.entries.get(key)?.value;
  }

  /** The highest stream sequence the mirror has delivered: it holds every write up to it. */
  get seenSeq(): number {
    return this.seen;
  }

  revision(key: string): number | undefined {
    return this.entries.get(key)?.revision;
  }

  values(): T[] {
    return [...this.entries.values()].map((e) => e.value);
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Resolves once the watch has delivered stream sequence `seq` (or a later one). */
  async caughtUp(seq: number, timeoutMs = 10_000): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (this.seen < seq) {
      if (this.stopped || performance.now() > until) throw new Error(`${this.opts.name} mirror did not reach sequence ${seq}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  get size(): number {
    return this.entries.size;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.watchOnce();
      } catch (err) {
        if (this.stopped) return;
        this.opts.log.warn('kv watch failed; re-establishing', { bucket: this.opts.name, err });
      }
      if (this.stopped) return;
      // Until the watch is back, keep the copy current from a consumer-less read: a watch needs
      // an ephemeral consumer, and nats-server < 2.12 may place one on an offline peer.
      await this.resyncByReading();
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private async resyncByReading(): Promise<void> {
    try {
      // Everything up to the stream's last sequence read first is in the values read after it.
      const last = this.opts.key ? 0 : (await this.kv.status()).streamInfo.state.last_seq;
      const fresh = await readAll(this.kv, this.opts.kind, { filter: this.opts.key, reporter: this.reporter });
      this.seen = Math.max(this.seen, last);
      for (const k of fresh.keys()) if (this.opts.accept && !this.opts.accept(k)) fresh.delete(k);
      this.replaceAll(fresh);
      this.readyResolve();
    } catch (err) {
      this.opts.log.debug('kv read while re-watching failed', { bucket: this.opts.name, err });
    }
  }

  private async watchOnce(): Promise<void> {
    const fresh = new Map<string, { value: T; revision: number }>();
    let initialized = false;
    const finishSnapshot = () => {
      initialized = true;
      this.replaceAll(fresh);
      this.readyResolve();
    };
    const iter = await this.kv.watch({ key: this.opts.key, initializedFn: finishSnapshot });
    this.iter = iter;
    const stopCheck = setInterval(() => {
      if (this.stopped) iter.stop();
    }, 200);
    try {
      for await (const e of iter) {
        this.seen = Math.max(this.seen, e.revision);
        try {
          if (!initialized) this.record(fresh, e);
          else this.apply(e);
        } catch (err) {
          // a listener threw: the record is in; the watch must not end over it
          this.opts.log.warn('kv mirror listener failed', { bucket: this.opts.name, key: e.key, err });
        }
      }
    } finally {
      clearInterval(stopCheck);
    }
  }

  private record(into: Map<string, { value: T; revision: number }>, e: KvEntry): void {
    if (this.opts.accept && !this.opts.accept(e.key)) return;
    const value = decodeEntry(this.kv, this.opts.kind, e, this.reporter);
    if (value !== undefined) into.set(e.key, { value, revision: e.revision });
    else into.delete(e.key);
  }

  private replaceAll(fresh: Map<string, { value: T; revision: number }>): void {
    const before = new Map(this.entries);
    this.entries.clear();
    for (const [k, v] of fresh) this.entries.set(k, v);
    for (const [k, v] of fresh) {
      if (before.get(k)?.revision !== v.revision) this.emit({ key: k, value: v.value, revision: v.revision });
    }
    for (const [k, v] of before) if (!fresh.has(k)) this.emit({ key: k, value: undefined, revision: v.revision });
  }

  private apply(e: KvEntry): void {
    if (this.opts.accept && !this.opts.accept(e.key)) return;
    const value = decodeEntry(this.kv, this.opts.kind, e, this.reporter);
    if (value !== undefined) {
      this.entries.set(e.key, { value, revision: e.revision });
      this.emit({ key: e.key, value, revision: e.revision });
    } else if (this.entries.delete(e.key) || e.operation !== 'PUT') {
      this.emit({ key: e.key, value: undefined, revision: e.revision });
    }
  }

  private emit(c: MirrorChange<T>): void {
    for (const fn of this.listeners) fn(c);
  }
}
