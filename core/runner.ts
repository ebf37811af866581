import type { Logger } from './log.js';

export interface RunnerOptions {
  name: string;
  /** Never run more often than this. */
  minIntervalMs: number;
  /** Run at least this often even with no change (periodic full resync). */
  maxIntervalMs: number;
  /** First retry delay after a failure; doubles up to maxIntervalMs. */
  retryMs: number;
  run: () => Promise<void>;
  log: Logger;
}

/**
 * kube-proxy's BoundedFrequencyRunner: change notifications only call `request()`; runs are
 * coalesced, spaced by minIntervalMs, forced every maxIntervalMs, retried with backoff on failure,
 * and never overlap.
 */
export class CoalescingRunner {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private pending = false;
  private stopped = true;
  private lastRun = 0;
  private failures = 0;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly opts: RunnerOptions) {}

  start(): void {
    this.stopped = false;
    this.request();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.idle;
  }

  /** Asks for a run as soon as the minimum interval allows. */
  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    const wait = Math.max(0, this.lastRun + this.opts.minIntervalMs - Date.now());
    this.arm(wait);
  }

  private arm(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.fire(), delayMs);
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    if (this.stopped || this.running) return;
    this.running = true;
    this.pending = false;
    this.lastRun = Date.now();
    let done!: () => void;
    this.idle = new Promise((r) => (done = r));
    let next = this.opts.maxIntervalMs;
    try {
      await this.opts.run();
      this.failures = 0;
    } catch (err) {
      this.failures++;
      next = Math.min(this.opts.maxIntervalMs, this.opts.retryMs * 2 ** (this.failures - 1));
      this.opts.log.warn(`${this.opts.name} failed; retrying`, { err, inMs: next, failures: this.failures });
    } finally {
      this.running = false;
      done();
    }
    if (this.pending) this.request();
    else this.arm(next);
  }
}
