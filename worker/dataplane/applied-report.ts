/**
 * Reports what this node's data plane has applied (`mesh_applied.<node id>`): the tasks and
 * status stream sequences its load balancers, ingress sandbox and published-port tables were
 * last brought to. Written only when they advanced; at most one write in flight, the newest
 * offer wins; a failed write is retried by the next offer (the next sync).
 */
import type { Logger } from '../../core/log.js';

export interface AppliedSeqs {
  tasksSeq: number;
  statusSeq: number;
}

export class AppliedReporter {
  /** The last sequences written. */
  private written: AppliedSeqs = { tasksSeq: 0, statusSeq: 0 };
  private pending: AppliedSeqs | undefined;
  private inFlight = false;
  private failing = false;

  constructor(private readonly deps: { write: (seqs: AppliedSeqs) => Promise<void>; log: Logger }) {}

  /** The data plane applied state at least as new as `seqs`. */
  offer(seqs: AppliedSeqs): void {
    const newest = this.pending ?? this.written;
    if (seqs.tasksSeq > newest.tasksSeq || seqs.statusSeq > newest.statusSeq) this.pending = newer(seqs, newest);
    // Also a write that failed before: retried now.
    if (this.pending && !this.inFlight) void this.flush();
  }

  /** The sequences last written (for tests and logs). */
  get last(): AppliedSeqs {
    return this.written;
  }

  private async flush(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.pending) {
        const next = this.pending;
        this.pending = undefined;
        try {
          await this.deps.write(next);
          this.written = next;
          if (this.failing) this.deps.log.info('data plane applied state reported again', { ...next });
          this.failing = false;
        } catch (err) {
          // Kept for the next offer (with any newer one made meanwhile).
          this.pending = newer(next, this.pending ?? next);
          if (!this.failing) this.deps.log.warn('could not report the applied data plane state; the next sync retries', { err });
          this.failing = true;
          return;
        }
      }
    } finally {
      this.inFlight = false;
    }
  }
}

function newer(a: AppliedSeqs, b: AppliedSeqs): AppliedSeqs {
  return { tasksSeq: Math.max(a.tasksSeq, b.tasksSeq), statusSeq: Math.max(a.statusSeq, b.statusSeq) };
}
