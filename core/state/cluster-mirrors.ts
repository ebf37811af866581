import type { KV } from 'nats';
import type { Buckets } from './buckets.js';
import { KvMirror } from './mirror.js';
import type { DataplaneApplied, EndpointRecord, LbAddress, NetworkRecord, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../model.js';
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
  /** Containers of other runtimes attached through the CNI plugin. */
  endpoints: KvMirror<EndpointRecord>;
  /**
   * What each node's data plane has applied. Not cluster state that anything is computed from:
   * `stateMirrors` leaves it out, so a node's report does not make every node resync.
   */
  applied: KvMirror<DataplaneApplied>;
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
    endpoints: mirror(buckets.endpoints, 'endpoints', RECORDS.endpoints),
    applied: mirror(buckets.applied, 'applied', RECORDS.applied),
  };
}

/** Task keys are `<nodeId>.<taskId>`; the tasks bucket also holds the scheduler's one-token `fence`. */
export function isTaskKey(key: string): boolean {
  return key.split('.').length === 2;
}

/** The mirrors of the state that schedules, data planes and DNS are computed from (all but `applied`). */
export function stateMirrors(m: ClusterMirrors): KvMirror<unknown>[] {
  const { applied: _applied, ...state } = m;
  return Object.values(state) as KvMirror<unknown>[];
}

export function allMirrors(m: ClusterMirrors): KvMirror<unknown>[] {
  return Object.values(m) as KvMirror<unknown>[];
}
