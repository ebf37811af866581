/**
 * Which nodes' data planes have not yet applied a given cluster state (DESIGN.md section 11).
 * Every node runs a data plane (a manager-only node too: the routing mesh is on every node) and
 * reports the tasks and status stream sequences it last applied (bucket `mesh_applied`). A node
 * marked down is out of every load balancer already, so it is never waited for.
 */
import type { DataplaneApplied, NodeRecord } from './model.js';

/** Default bound on waiting for every live node to apply a change (a removal, a successor's arrival). */
export const HANDOFF_APPLIED_TIMEOUT_MS = 10_000;

/** 10 s, or `$MESH_HANDOFF_TIMEOUT_MS` where the machine is known to be slow (the VM lane). */
export function handoffTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.MESH_HANDOFF_TIMEOUT_MS);
  return Number.isInteger(v) && v > 0 ? v : HANDOFF_APPLIED_TIMEOUT_MS;
}

export interface AppliedWant {
  /** The tasks stream sequence every live node must have applied (a leaving task's record). */
  tasksSeq?: number;
  /** The status stream sequence every live node must have applied. */
  statusSeq?: number;
}

/** Pure: the live nodes (status ready) whose applied record is missing or below `want`. */
export function laggingNodes(opts: { nodes: readonly NodeRecord[]; applied: readonly DataplaneApplied[]; want: AppliedWant }): NodeRecord[] {
  const applied = new Map(opts.applied.map((a) => [a.nodeId, a]));
  const { tasksSeq = 0, statusSeq = 0 } = opts.want;
  return opts.nodes.filter((n) => {
    if (n.status !== 'ready') return false;
    const a = applied.get(n.id);
    return !a || a.tasksSeq < tasksSeq || a.statusSeq < statusSeq;
  });
}
