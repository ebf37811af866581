/**
 * A replica leaves before it stops (DESIGN.md section 11): before a task that leaves on purpose
 * gets its stop signal, (1) every live node's data plane has applied the task record that took it
 * out (their reports in `mesh_applied`; bounded, the laggards logged), then (2) the connections
 * it was serving have closed (bounded). Node-down removal needs none of this: a down node's
 * replicas are out of every load balancer already.
 */
import type { KvMirror } from '../core/state/mirror.js';
import type { DataplaneApplied, NodeRecord, TaskRecord } from '../core/model.js';
import { handoffTimeoutMs, laggingNodes, type AppliedWant } from '../core/applied.js';
export { HANDOFF_APPLIED_TIMEOUT_MS, handoffTimeoutMs } from '../core/applied.js';
import type { Logger } from '../core/log.js';
import { waitConnectionsClosed } from './connections.js';

/** Default bound on waiting for a leaving task's connections to close (never more than its stop grace). */
export const HANDOFF_DRAIN_TIMEOUT_MS = 5_000;


export interface HandoffOptions {
  nodeId: string;
  mirrors: { nodes: KvMirror<NodeRecord>; applied: KvMirror<DataplaneApplied>; tasks: KvMirror<TaskRecord> };
  /** Bound on (1); default `handoffTimeoutMs()`. */
  appliedTimeoutMs?: number;
  /** Bound on (2), further bounded by the task's stop grace; default 5 s. */
  drainTimeoutMs?: number;
  log: Logger;
}

export interface Leaving {
  taskId: string;
  taskName: string;
  /** The tasks stream sequence that took it out (`removalSeq`); undefined: no node has a record of it. */
  tasksSeq?: number;
  /** Its main process (whose /proc/<pid>/net tables are its namespace's); undefined: nothing to drain. */
  pid?: number;
  /** Its service's TCP target ports; empty: every port it listens on. */
  ports: readonly number[];
  graceMs: number;
  /** Aborted when the task is wanted again before its stop signal. */
  signal?: AbortSignal;
}

export class Handoff {
  constructor(private readonly opts: HandoffOptions) {}

  /**
   * The tasks stream sequence of the change that took a task out: its record's revision (the
   * write that set it to shutdown), or for a record gone from the mirror, everything the mirror
   * has seen (the delete is in it).
   */
  removalSeq(taskId: string): number {
    const { tasks } = this.opts.mirrors;
    return tasks.revision(`${this.opts.nodeId}.${taskId}`) ?? tasks.seenSeq;
  }

  /** Both waits; resolves when the task may get its stop signal (or when `signal` aborts). */
  async leave(t: Leaving): Promise<void> {
    const started = performance.now();
    if (t.tasksSeq !== undefined) await this.waitEveryNode(t, t.tasksSeq);
    if (t.signal?.aborted) return;
    const appliedMs = Math.round(performance.now() - started);
    if (t.pid === undefined || t.pid <= 0) return;
    const drainMs = Math.min(this.opts.drainTimeoutMs ?? HANDOFF_DRAIN_TIMEOUT_MS, t.graceMs);
    const open = await waitConnectionsClosed(t.pid, { ports: t.ports, timeoutMs: drainMs, ...(t.signal && { signal: t.signal }) });
    if (t.signal?.aborted) return;
    const waited = { task: t.taskName, appliedMs, drainedMs: Math.round(performance.now() - started) - appliedMs };
    if (open.length > 0) this.opts.log.info('stopping a leaving task with connections still open', { ...waited, open: open.length });
    else this.opts.log.info('task left every load balancer; stopping it', waited);
  }

  /** (1), logging the nodes that lagged when the bound is hit. */
  private async waitEveryNode(t: Leaving, tasksSeq: number): Promise<void> {
    const started = performance.now();
    const lagging = await this.waitApplied({ tasksSeq }, this.opts.appliedTimeoutMs ?? handoffTimeoutMs(), t.signal);
    if (t.signal?.aborted || lagging.length === 0) return;
    this.opts.log.warn('stopping a leaving task before every node applied its removal', {
      task: t.taskName,
      tasksSeq,
      waitedMs: Math.round(performance.now() - started),
      lagging: lagging.map((n) => `${n.hostname} (applied ${this.opts.mirrors.applied.get(n.id)?.tasksSeq ?? 'nothing'})`),
    });
  }

  /**
   * Resolves once every live node has applied `want` (empty list), or with the nodes still
   * lagging when `timeoutMs` is up or `signal` aborts. Woken by the mirrors, never polled.
   */
  waitApplied(want: AppliedWant, timeoutMs: number, signal?: AbortSignal): Promise<NodeRecord[]> {
    const { nodes, applied } = this.opts.mirrors;
    const lagging = () => laggingNodes({ nodes: nodes.values(), applied: applied.values(), want });
    return new Promise((resolve) => {
      const unsubscribe: (() => void)[] = [];
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        for (const u of unsubscribe) u();
        resolve(lagging());
      };
      const check = () => {
        if (lagging().length === 0) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      signal?.addEventListener('abort', finish);
      unsubscribe.push(applied.onChange(check), nodes.onChange(check));
      if (signal?.aborted) finish();
      else check();
    });
  }
}
