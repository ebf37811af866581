import type { NatsConnection } from 'nats';
import { openBuckets, type Buckets } from '../core/state/buckets.js';
import { readAll, readValues } from '../core/state/read.js';
import { RECORDS } from '../core/wire/records.js';
import { runsCurrentSpec, type EndpointRecord, type NetworkRecord, type NodeRecord, type ServiceRecord, type TaskRecord, type TaskStatus } from '../core/model.js';
import { NotFoundError } from '../core/errors.js';
import { satisfies } from '../core/placement.js';

/** One consistent-enough read of cluster state for a meshctl command (read-only). */
export interface ClusterSnapshot {
  nodes: NodeRecord[];
  networks: NetworkRecord[];
  services: ServiceRecord[];
  tasks: TaskRecord[];
  statuses: Map<string, TaskStatus>;
  /** Each status's KV revision (the status stream's sequence when it was written). */
  statusRevisions: Map<string, number>;
  /** Containers of other runtimes attached through the CNI plugin. */
  endpoints: EndpointRecord[];
}

export async function openClusterBuckets(nc: NatsConnection): Promise<Buckets> {
  return openBuckets(nc);
}

/**
 * Reads the whole cluster state. A read that times out is tried again (up to 3 times): while
 * JetStream elects new stream leaders after a manager is lost, single requests can time out.
 */
export async function snapshot(buckets: Buckets): Promise<ClusterSnapshot> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readSnapshot(buckets);
    } catch (err) {
      if (attempt >= 3 || !/timeout|503/i.test(err instanceof Error ? err.message : String(err))) throw err;
    }
  }
}

async function readSnapshot(buckets: Buckets): Promise<ClusterSnapshot> {
  const [nodes, networks, services, tasks, statuses, endpoints] = await Promise.all([
    readValues(buckets.nodes, RECORDS.nodes),
    readValues(buckets.networks, RECORDS.networks),
    readValues(buckets.services, RECORDS.services),
    readValues(buckets.tasks, RECORDS.tasks, { filter: '*.*' }),
    readAll(buckets.status, RECORDS.status),
    readValues(buckets.endpoints, RECORDS.endpoints),
  ]);
  return {
    nodes: nodes.sort((a, b) => a.hostname.localeCompare(b.hostname)),
    networks: networks.sort((a, b) => a.name.localeCompare(b.name)),
    services: services.sort((a, b) => a.name.localeCompare(b.name)),
    tasks: tasks.sort((a, b) => a.name.localeCompare(b.name) || a.createdAt.localeCompare(b.createdAt)),
    statuses: new Map([...statuses.values()].map(({ value }) => [value.taskId, value])),
    statusRevisions: new Map([...statuses.values()].map(({ value, revision }) => [value.taskId, revision])),
    endpoints: endpoints.sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** Finds by exact name, exact id, then unique id prefix. */
export function findOne<T extends { id: string }>(items: readonly T[], ref: string, nameOf: (t: T) => string[], what: string): T {
  const exact = items.find((i) => i.id === ref || nameOf(i).includes(ref));
  if (exact) return exact;
  const byPrefix = items.filter((i) => i.id.startsWith(ref));
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) throw new NotFoundError(`${what} ${ref} is ambiguous: ${byPrefix.map((i) => i.id).join(', ')}`);
  throw new NotFoundError(`${what} ${ref} not found`);
}

export function nodeName(snap: ClusterSnapshot, id: string): string {
  return snap.nodes.find((n) => n.id === id)?.hostname ?? id.slice(0, 12);
}

export function networkName(snap: ClusterSnapshot, id: string): string {
  return snap.networks.find((n) => n.id === id)?.name ?? id.slice(0, 12);
}

/** Running/desired as `service ls` shows it. */
export function replicaCounts(snap: ClusterSnapshot, svc: ServiceRecord): { running: number; desired: number } {
  const tasks = snap.tasks.filter((t) => t.serviceId === svc.id && t.desiredState === 'running');
  const running = tasks.filter((t) => snap.statuses.get(t.id)?.state === 'running' && runsCurrentSpec(svc, t)).length;
  const desired =
    svc.spec.mode === 'global'
      ? snap.nodes.filter((n) => n.status === 'ready' && n.runsTasks && satisfies(n, svc.spec.constraints)).length
      : svc.spec.replicas;
  return { running, desired };
}
