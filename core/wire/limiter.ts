/**
 * Per-sender token buckets, checked before a message is parsed (the sender is in the subject).
 * Only senders `admit` accepts get a bucket (known node ids); the map never holds more than
 * `maxSenders`, so a flood of made-up ids costs nothing but the cheap refusal.
 */
export interface RateLimit {
  /** Tokens added per second. */
  perSecond: number;
  /** Bucket size: how many may arrive at once. */
  burst: number;
}

export class SenderLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly opts: RateLimit & { maxSenders?: number; now?: () => number },
  ) {}

  /** True when `sender` may send one more message now. */
  take(sender: string): boolean {
    const now = this.opts.now ? this.opts.now() : performance.now();
    let b = this.buckets.get(sender);
    if (!b) {
      if (this.buckets.size >= (this.opts.maxSenders ?? 10_000)) this.evictIdle(now);
      if (this.buckets.size >= (this.opts.maxSenders ?? 10_000)) return false;
      b = { tokens: this.opts.burst, at: now };
      this.buckets.set(sender, b);
    }
    b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) / 1000) * this.opts.perSecond);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  forget(sender: string): void {
    this.buckets.delete(sender);
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Full buckets carry no information: drop them. */
  private evictIdle(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.opts.perSecond >= this.opts.burst) this.buckets.delete(k);
    }
  }
}
