import type { KV } from 'nats';
import type { Buckets } from './buckets.js';
import { KvMirror } from './mirror.js';
import type { LbAddress, NetworkRecord, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../model.js';
import type { Logger } from '../log.js';

/** Local copies of the buckets both managers and workers act on. */
export interface ClusterMirrors {
  nodes: KvMirror<NodeRecord>;
  networks: KvMirror<NetworkRecord>;
  services: KvMirror<ServiceRecord>;
  tasks: KvMirror<TaskRecord>;
  status: KvMirror<TaskStatus>;
  lbaddrs: KvMirror<LbAddress>;
}

export function startClusterMirrors(buckets: Buckets, log: Logger): ClusterMirrors {
  const mirror = <T>(kv: KV, name: string, accept?: (key: string) => boolean) => new KvMirror<T>(kv, { name, log, accept }).start();
  return {
    nodes: mirror<NodeRecord>(buckets.nodes, 'nodes'),
    networks: mirror<NetworkRecord>(buckets.networks, 'networks'),
    services: mirror<ServiceRecord>(buckets.services, 'services'),
    tasks: mirror<TaskRecord>(buckets.tasks, 'tasks', isTaskKey),
    status: mirror<TaskStatus>(buckets.status, 'status'),
    lbaddrs: mirror<LbAddress>(buckets.lbaddrs, 'lbaddrs'),
  };
}

/** Task keys are `<nodeId>.<taskId>`; the tasks bucket also holds the scheduler's one-token `fence`. */
export function isTaskKey(key: string): boolean {
  return key.split('.').length === 2;
}

export function allMirrors(m: ClusterMirrors): KvMirror<unknown>[] {
  return Object.values(m) as KvMirror<unknown>[];
}
