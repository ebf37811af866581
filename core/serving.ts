import type { NodeRecord, TaskRecord, TaskStatus } from './model.js';

/**
 * Whether a replica takes new connections (load balancers) and is answered for (DNS): desired
 * running, reported running, not failing its health check, and on a node not marked down. The
 * last one takes a dead node's replicas out of every LB and DNS the moment the leader calls it
 * down, without waiting for the scheduler to move them.
 */
export function isServing(task: TaskRecord, status: TaskStatus | undefined, downNodes: ReadonlySet<string>): boolean {
  if (task.desiredState !== 'running' || status?.state !== 'running' || downNodes.has(task.nodeId)) return false;
  return status.health === undefined || status.health === 'healthy';
}

/** Ids of the nodes marked down. */
export function downNodeIds(nodes: readonly NodeRecord[]): Set<string> {
  return new Set(nodes.filter((n) => n.status === 'down').map((n) => n.id));
}
