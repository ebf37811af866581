import type { KV } from 'nats';
import type { Buckets } from './buckets.js';
import { KvMirror } from './mirror.js';
import type { LbAddress, NetworkRecord, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../model.js';
import type { Logger } from '../log.js';
import { RECORDS, type RecordKind } from '../wire/records.js';
import { RateLimitedReporter } from '../wire/reporter.js';

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
  // One reporter for all: a bad record is logged once per writer and key per minute.
  const reporter = new RateLimitedReporter({ log });
  const mirror = <T>(kv: KV, name: string, kind: RecordKind<T>, accept?: (key: string) => boolean) => new KvMirror<T>(kv, { name, log, kind, reporter, accept }).start();
  return {
    nodes: mirror(buckets.nodes, 'nodes', RECORDS.nodes),
    networks: mirror(buckets.networks, 'networks', RECORDS.networks),
    services: mirror(buckets.services, 'services', RECORDS.services),
    tasks: mirror(buckets.tasks, 'tasks', RECORDS.tasks, isTaskKey),
    status: mirror(buckets.status, 'status', RECORDS.status),
    lbaddrs: mirror(buckets.lbaddrs, 'lbaddrs', RECORDS.lbaddrs),
  };
}

/** Task keys are `<nodeId>.<taskId>`; the tasks bucket also holds the scheduler's one-token `fence`. */
export function isTaskKey(key: string): boolean {
  return key.split('.').length === 2;
}

export function allMirrors(m: ClusterMirrors): KvMirror<unknown>[] {
  return Object.values(m) as KvMirror<unknown>[];
}
