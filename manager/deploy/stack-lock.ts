import type { KV } from 'nats';
import type { NetworkRecord, ServiceRecord } from '../../core/model.js';
import { ConflictError } from '../../core/errors.js';
import { encode } from '../../core/state/codec.js';
import { tryDecodeAs } from '../../core/wire/decode.js';
import * as W from '../../core/wire/schemas.js';
import { newId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import { isCasFailure } from '../allocator.js';

/**
 * What a deploy is about to write, recorded in its lock before the first write (a redo log). A
 * lock found stale with a journal is rolled forward by whoever takes it over: once the journal is
 * in, the deploy counts as committed, and every step of it is idempotent.
 */
export interface CommitJournal {
  networks: NetworkRecord[];
  /** Records to write, with the version they replace (its dropped allocations are released). */
  services: { record: ServiceRecord; before?: ServiceRecord }[];
  removeServices: ServiceRecord[];
  removeNetworks: NetworkRecord[];
}

export interface StackLockRecord {
  /** `<nodeId>/<random>`: the manager and the operation holding the lock. */
  owner: string;
  op: string;
  journal?: CommitJournal;
}

export interface LockTiming {
  /** A holder refreshes its lock this often. */
  refreshMs: number;
  /** A lock whose revision has not moved for this long (own monotonic clock) is taken over. */
  staleMs: number;
  /** A contender waits this long for a live holder before it gives up with a conflict. */
  waitMs: number;
}

export const DEFAULT_LOCK_TIMING: LockTiming = { refreshMs: 1_000, staleMs: 5_000, waitMs: 30_000 };

/** A lock record as read; an unreadable one is a lock held by nobody known, with no journal. */
export function readLockRecord(bytes: Uint8Array): StackLockRecord {
  const r = tryDecodeAs(W.StackLockRecord, bytes);
  return r.ok ? r.value : { owner: `unreadable (${r.error.reason})`, op: 'unknown operation' };
}

export const stackLockKey = (stack: string) => `stack.${stack}`;

export interface HeldLock {
  /** Writes the journal into the lock (compare-and-swap): fails if the lock was lost. */
  journal(j: CommitJournal): Promise<void>;
  /** Keep the lock (and its journal) in place when released: a commit did not finish. */
  keepOnRelease(): void;
}

/**
 * One lock per stack in mesh_control, by compare-and-swap: `create` takes a free lock; the holder
 * refreshes it; a contender waits for it to go, and takes over one whose revision has not moved for
 * `staleMs` of its own clock (its manager died), rolling the dead holder's journal forward first.
 */
export class StackLocks {
  private readonly timing: LockTiming;

  constructor(
    private readonly kv: KV,
    private readonly opts: { nodeId: string; log: Logger; timing?: Partial<LockTiming> },
  ) {
    this.timing = { ...DEFAULT_LOCK_TIMING, ...opts.timing };
  }

  async hold<T>(args: { stack: string; op: string; recover: (j: CommitJournal) => Promise<void> }, fn: (lock: HeldLock) => Promise<T>): Promise<T> {
    const key = stackLockKey(args.stack);
    const mine: StackLockRecord = { owner: `${this.opts.nodeId}/${newId().slice(0, 12)}`, op: args.op };
    let { revision, stale } = await this.acquire(key, mine);
    if (stale?.journal) {
      this.opts.log.warn('rolling forward a deploy whose manager died mid-commit', { stack: args.stack, owner: stale.owner });
      await args.recover(stale.journal);
    }
    let current = mine;
    let lost = false;
    let keep = false;
    let chain: Promise<void> = Promise.resolve();
    const update = (next: StackLockRecord) =>
      (chain = chain.then(async () => {
        if (lost) throw new ConflictError(`the lock of stack ${args.stack} was taken over by another manager`);
        try {
          revision = await this.kv.update(key, encode(next), revision);
          current = next;
        } catch (err) {
          if (isCasFailure(err)) lost = true;
          throw err;
        }
      }));
    const refresher = setInterval(() => void update(current).catch(() => undefined), this.timing.refreshMs);
    try {
      return await fn({ journal: (j) => update({ ...current, journal: j }), keepOnRelease: () => (keep = true) });
    } finally {
      clearInterval(refresher);
      await chain.catch(() => undefined);
      if (!keep && !lost) await this.kv.delete(key, { previousSeq: revision }).catch(() => undefined);
    }
  }

  private async acquire(key: string, mine: StackLockRecord): Promise<{ revision: number; stale?: StackLockRecord }> {
    const start = performance.now();
    let seenRevision = -1;
    let seenAt = start;
    for (;;) {
      try {
        return { revision: await this.kv.create(key, encode(mine)) };
      } catch (err) {
        if (!isCasFailure(err)) throw err;
      }
      const e = await this.kv.get(key);
      const now = performance.now();
      if (e && e.operation === 'PUT') {
        if (e.revision !== seenRevision) {
          seenRevision = e.revision;
          seenAt = now;
        } else if (now - seenAt >= this.timing.staleMs) {
          const taken = await this.takeOver(key, mine, e.revision);
          if (taken) return { revision: taken, stale: readLockRecord(e.value) };
        }
        if (now - start >= this.timing.waitMs) {
          const holder = readLockRecord(e.value);
          throw new ConflictError(`stack ${key.slice(6)} is being changed by another ${holder.op} (${holder.owner}) for more than ${Math.round(this.timing.waitMs / 1000)} s; try again later`);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async takeOver(key: string, mine: StackLockRecord, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(key, encode(mine), revision);
    } catch (err) {
      if (isCasFailure(err)) return undefined;
      throw err;
    }
  }
}
