import { headers, type JetStreamClient, type KV } from 'nats';
import { encode } from '../../core/state/codec.js';
import { tryDecodeAs } from '../../core/wire/decode.js';
import * as W from '../../core/wire/schemas.js';
import { MeshError } from '../../core/errors.js';

/**
 * The key of the fence record in the tasks bucket. One token, so it never matches a task key
 * (`<nodeId>.<taskId>`): the cluster mirrors skip it (`isTaskKey`), meshctl reads `*.*`.
 */
export const FENCE_KEY = 'fence';

export interface FenceRecord {
  nodeId: string;
  term: number;
}

/** A scheduler write refused because a leader with a newer term fenced the tasks stream. */
export class FencedError extends MeshError {
  /** The term found in the fence, when that is why the write was refused. */
  readonly fenceTerm: number | undefined;
  constructor(message: string, fenceTerm?: number) {
    super(message);
    this.fenceTerm = fenceTerm;
  }
}

/**
 * The leader's only way to write the tasks bucket (only the scheduler writes it). Fencing:
 *
 * 1. On becoming leader with term T, `fence()` writes `{nodeId, term: T}` to FENCE_KEY with a
 *    compare-and-swap on that key's last sequence, and only if the fence's term is < T (or is T
 *    and ours: the same leader re-fencing after a lost ack). Fence terms only grow.
 * 2. Every task write then expects the stream's last sequence (`Nats-Expected-Last-Sequence`) to
 *    be the one this writer last wrote. The stream is one total order: once a newer leader's fence
 *    is in it, every write of an older one expects a sequence that is no longer last and is refused
 *    by the stream leader itself. A refused writer never re-reads the last sequence; only a new
 *    `fence()` (which needs a newer or equal term of its own) lets it write again.
 */
export class FencedTaskWriter {
  private last: number | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly js: JetStreamClient;
  private readonly prefix: string;

  constructor(
    private readonly kv: KV,
    private readonly who: FenceRecord,
  ) {
    // nats.js 2.x keeps the JetStream client and the bucket name on the KV object (as read.ts does).
    const inner = kv as unknown as { js: JetStreamClient; bucket: string };
    this.js = inner.js;
    this.prefix = `$KV.${inner.bucket}.`;
  }

  /** The stream sequence of this writer's newest write (or its fence). */
  get lastSeq(): number | undefined {
    return this.last;
  }

  get term(): number {
    return this.who.term;
  }

  /** Claims the tasks stream for this term; returns the fence's stream sequence. */
  fence(): Promise<number> {
    return this.serial(async () => {
      const cur = await this.kv.get(FENCE_KEY);
      const read = cur && cur.operation === 'PUT' ? tryDecodeAs(W.FenceRecord, cur.value) : undefined;
      // An unreadable fence (only managers write mesh_tasks) is overwritten, by CAS on its sequence.
      const prev = read?.ok ? read.value : undefined;
      if (prev && (prev.term > this.who.term || (prev.term === this.who.term && prev.nodeId !== this.who.nodeId))) {
        throw new FencedError(`tasks are fenced by ${prev.nodeId} at term ${prev.term}; this leader has term ${this.who.term}`, prev.term);
      }
      try {
        this.last = await this.kv.put(FENCE_KEY, encode(this.who), { previousSeq: cur?.revision ?? 0 });
      } catch (err) {
        throw isSequenceMismatch(err) ? new FencedError(`another leader fenced the tasks stream while term ${this.who.term} was fencing`) : err;
      }
      return this.last;
    });
  }

  put(key: string, value: unknown): Promise<number> {
    return this.write(key, encode(value), undefined);
  }

  delete(key: string): Promise<number> {
    const h = headers();
    h.set('KV-Operation', 'DEL');
    return this.write(key, new Uint8Array(), h);
  }

  private write(key: string, data: Uint8Array, hdrs: ReturnType<typeof headers> | undefined): Promise<number> {
    return this.serial(async () => {
      if (this.last === undefined) throw new FencedError(`term ${this.who.term} has not fenced the tasks stream`);
      const expected = this.last;
      try {
        const ack = await this.js.publish(this.prefix + key, data, { headers: hdrs, expect: { lastSequence: expected } });
        this.last = ack.seq;
        return ack.seq;
      } catch (err) {
        if (!isSequenceMismatch(err)) throw err;
        this.last = undefined;
        throw new FencedError(`write of ${key} refused: the tasks stream moved past sequence ${expected} (a newer leader fenced it, term ${this.who.term} is deposed)`);
      }
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/** JetStream error 10071 ("wrong last sequence") and its per-subject twin. */
function isSequenceMismatch(err: unknown): boolean {
  const e = err as { message?: string; api_error?: { err_code?: number; description?: string } };
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(e?.api_error?.description ?? e?.message ?? '');
}
