import { TERMINAL_STATES, type NodeRecord, type ServiceRecord, type TaskRecord, type TaskStatus } from './model.js';

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

/**
 * Whether the routing mesh is needed (the ingress overlay, every node's ingress sandbox and its
 * address there): while any service publishes a port in ingress mode, and after the last one
 * went, while a task on the ingress network is still leaving (its established connections run
 * through the sandboxes that balanced them, by their conntrack state): a task whose record says
 * shutdown, or whose service is gone, with its process not yet ended (status not terminal).
 */
export function routingMeshInUse(opts: { services: readonly ServiceRecord[]; tasks: readonly TaskRecord[]; statuses: ReadonlyMap<string, TaskStatus>; ingressId: string | undefined }): boolean {
  if (opts.services.some((s) => s.endpoint.ports.some((p) => p.mode === 'ingress'))) return true;
  if (opts.ingressId === undefined) return false;
  const serviceIds = new Set(opts.services.map((s) => s.id));
  return opts.tasks.some((t) => {
    if (!t.addresses.some((a) => a.networkId === opts.ingressId)) return false;
    if (t.desiredState === 'running' && serviceIds.has(t.serviceId)) return false;
    const status = opts.statuses.get(t.id);
    return status !== undefined && !TERMINAL_STATES.has(status.state);
  });
}
