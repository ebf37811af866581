/**
 * Logs a dropped bad message at most once per (sender, place) per interval, with how many were
 * dropped since the last line. A place is a subject, or a bucket for a KV record: a sender
 * writing 10,000 bad keys into one bucket costs one line a minute, not one per key (the line
 * names the first key). Bounded: at most `maxKeys` pairs are remembered; beyond that the oldest
 * are forgotten (costing a log line, never memory).
 */
import type { Logger } from '../log.js';

export interface BadInput {
  /** Node id when the subject or key names one; else the subject/key's first token. */
  sender: string;
  /** Subject, or `<bucket>/<key>`. */
  where: string;
  reason: string;
}

export class RateLimitedReporter {
  private readonly last = new Map<string, { at: number; dropped: number }>();

  constructor(
    private readonly opts: { log: Logger; intervalMs?: number; maxKeys?: number; now?: () => number },
  ) {}

  private get intervalMs(): number {
    return this.opts.intervalMs ?? 60_000;
  }

  /** Returns true when it logged (tests use this). */
  report(bad: BadInput): boolean {
    const now = this.opts.now ? this.opts.now() : performance.now();
    const key = `${bad.sender}\u0000${placeOf(bad.where)}`;
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.dropped++;
      return false;
    }
    const suppressed = seen?.dropped ?? 0;
    this.last.delete(key);
    this.last.set(key, { at: now, dropped: 0 });
    this.evict();
    this.opts.log.warn('dropped bad input', { sender: bad.sender, where: bad.where, reason: truncate(bad.reason), ...(suppressed ? { suppressed } : {}) });
    return true;
  }

  get size(): number {
    return this.last.size;
  }

  private evict(): void {
    const max = this.opts.maxKeys ?? 1_000;
    for (const k of this.last.keys()) {
      if (this.last.size <= max) return;
      this.last.delete(k);
    }
  }
}

/** `mesh_status/n1.t1` -> `mesh_status`; a subject is its own place. */
function placeOf(where: string): string {
  const slash = where.indexOf('/');
  return slash < 0 ? where : where.slice(0, slash);
}

function truncate(s: string): string {
  return s.length > 300 ? `${s.slice(0, 300)}...` : s;
}
