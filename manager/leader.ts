import type { KV } from 'nats';
import { CONTROL_KEYS, LEADER_LEASE_MS, LEADER_RENEW_MS } from '../core/names.js';
import { encodeAs, tryDecodeAs } from '../core/wire/decode.js';
import * as W from '../core/wire/schemas.js';
import { RateLimitedReporter } from '../core/wire/reporter.js';
import type { Logger } from '../core/log.js';
import { isCasFailure } from './allocator.js';

export interface LeaderLease {
  nodeId: string;
  term: number;
}

/**
 * Leader election on one KV key. The leader renews it (compare-and-swap on its revision) every
 * LEADER_RENEW_MS; a follower that sees the revision unchanged for LEADER_LEASE_MS of its own
 * monotonic clock takes it over with a compare-and-swap. No wall clocks are compared.
 */
export class LeaderElection {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRevision = 0;
  private lastChangeAt = 0;
  private term = 0;
  private readonly reporter: RateLimitedReporter;
  /** The next renewal raises the lease's term to at least this (see `fenced`). */
  private minTerm = 0;

  constructor(
    private readonly kv: KV,
    private readonly opts: { nodeId: string; log: Logger; onChange: (leading: boolean) => void },
  ) {
    this.reporter = new RateLimitedReporter({ log: opts.log });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The lease this node holds while leading: its id and term (scheduler writes carry it). */
  get lease(): LeaderLease {
    return { nodeId: this.opts.nodeId, term: this.term };
  }

  /**
   * A write of this term was refused by a newer term's fence: stop acting as leader at once. If
   * the lease still names this node (the refusal came from our own lost ack), the next renewal
   * makes it leader again and the scheduler re-fences with the same term.
   */
  fenced(fenceTerm?: number): void {
    // A fence newer than our lease (a lease deleted by hand restarted the terms): the next renewal
    // by this holder raises its term past it, so the scheduler can fence again.
    if (fenceTerm !== undefined && fenceTerm >= this.term) this.minTerm = fenceTerm + 1;
    this.setLeading(false);
  }

  start(): void {
    const tick = async () => {
      try {
        await this.step();
      } catch (err) {
        if (this.leading) this.setLeading(false);
        this.opts.log.warn('leader election step failed', { err });
      }
      if (this.timer !== undefined) this.timer = setTimeout(tick, LEADER_RENEW_MS);
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    if (this.leading) {
      this.setLeading(false);
      // Hand over at once instead of making followers wait out the lease. Released, not deleted:
      // the next leader's term must still be higher than ours (terms order the scheduler's fence).
      const released = encodeAs(W.LeaderLease, { nodeId: '', term: this.term });
      await this.kv.update(CONTROL_KEYS.leader, released, this.lastRevision).catch(() => undefined);
    }
  }

  private async step(): Promise<void> {
    const entry = await this.kv.get(CONTROL_KEYS.leader);
    const now = performance.now();
    if (!entry || entry.operation !== 'PUT') {
      await this.claim(entry?.revision, 1);
      return;
    }
    const decoded = tryDecodeAs(W.LeaderLease, entry.value);
    if (!decoded.ok) {
      // Only managers can write it; a bad lease is taken over like an expired one (by CAS on
      // its revision, so racing managers still elect one), after the same lease period.
      this.reporter.report({ sender: 'leader', where: `control/${CONTROL_KEYS.leader}`, reason: decoded.error.reason });
    }
    const lease = decoded.ok ? decoded.value : { nodeId: '', term: 0 };
    if (entry.revision !== this.lastRevision) {
      this.lastRevision = entry.revision;
      this.lastChangeAt = now;
    }
    if (lease.nodeId === this.opts.nodeId) {
      await this.renew(entry.revision, lease.term);
    } else {
      if (this.leading) this.setLeading(false);
      if (lease.nodeId === '' || now - this.lastChangeAt >= LEADER_LEASE_MS) await this.claim(entry.revision, lease.term + 1);
    }
  }

  private async claim(revision: number | undefined, leaseTerm: number): Promise<void> {
    const term = Math.max(leaseTerm, this.minTerm);
    const value = encodeAs(W.LeaderLease, { nodeId: this.opts.nodeId, term });
    try {
      this.lastRevision = revision === undefined ? await this.kv.create(CONTROL_KEYS.leader, value) : await this.kv.update(CONTROL_KEYS.leader, value, revision);
      this.lastChangeAt = performance.now();
      this.term = term;
      this.setLeading(true);
    } catch (err) {
      if (!isCasFailure(err)) throw err;
    }
  }

  private async renew(revision: number, leaseTerm: number): Promise<void> {
    const term = Math.max(leaseTerm, this.minTerm);
    try {
      this.lastRevision = await this.kv.update(CONTROL_KEYS.leader, encodeAs(W.LeaderLease, { nodeId: this.opts.nodeId, term }), revision);
      this.lastChangeAt = performance.now();
      this.term = term;
      if (!this.leading) this.setLeading(true);
    } catch (err) {
      if (!isCasFailure(err)) throw err;
      this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    this.opts.log.info(leading ? 'became leader' : 'lost leadership', { term: this.term });
    this.opts.onChange(leading);
  }
}
