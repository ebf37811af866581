/**
 * Each bucket's record schema and how its key is derived from the record. A record whose key
 * does not match its content is refused like a malformed one: a worker may write any key under
 * its own `mesh_status.<id>.`, and must not pass a status off as another node's or task's.
 */
import type * as z from 'zod';
import * as W from './schemas.js';
import type { BadInput } from './reporter.js';
import type { ClusterConfig } from '../../manager/cluster-config.js';
import type { LeaderLease } from '../../manager/leader.js';
import type { StackLockRecord } from '../../manager/deploy/stack-lock.js';
import type { FenceRecord } from '../../manager/scheduler/fence.js';
import type { NodeAuthRecord } from '../../manager/join.js';
import type { RegistryAuthRecord } from '../../manager/registry-auth.js';
import type { DataplaneApplied, EndpointRecord, LbAddress, NetworkRecord, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../model.js';

export interface RecordKind<T> {
  schema: z.ZodType<T>;
  /** The key this record must be stored under; undefined: any key. */
  keyOf?: (value: T) => string;
}

export const RECORDS = {
  nodes: { schema: W.NodeRecord, keyOf: (n) => n.id } satisfies RecordKind<NodeRecord>,
  networks: { schema: W.NetworkRecord, keyOf: (n) => n.id } satisfies RecordKind<NetworkRecord>,
  services: { schema: W.ServiceRecord, keyOf: (s) => s.id } satisfies RecordKind<ServiceRecord>,
  tasks: { schema: W.TaskRecord, keyOf: (t) => `${t.nodeId}.${t.id}` } satisfies RecordKind<TaskRecord>,
  status: { schema: W.TaskStatus, keyOf: (s) => `${s.nodeId}.${s.taskId}` } satisfies RecordKind<TaskStatus>,
  lbaddrs: { schema: W.LbAddress, keyOf: (l) => `${l.networkId}.${l.nodeId}` } satisfies RecordKind<LbAddress>,
  endpoints: { schema: W.EndpointRecord, keyOf: (e) => `${e.nodeId}.${e.id}` } satisfies RecordKind<EndpointRecord>,
  /** mesh_applied, keyed by node id (its writer's own). */
  applied: { schema: W.DataplaneApplied, keyOf: (a) => a.nodeId } satisfies RecordKind<DataplaneApplied>,
  /** mesh_control `cluster` and `leader`. */
  cluster: { schema: W.ClusterConfig } satisfies RecordKind<ClusterConfig>,
  leader: { schema: W.LeaderLease } satisfies RecordKind<LeaderLease>,
  /** mesh_control `stack.<name>`. */
  stackLock: { schema: W.StackLockRecord } satisfies RecordKind<StackLockRecord>,
  /** mesh_tasks `fence`. */
  fence: { schema: W.FenceRecord } satisfies RecordKind<FenceRecord>,
  /** mesh_auth, keyed by node id. */
  auth: { schema: W.NodeAuthRecord, keyOf: (a) => a.nodeId } satisfies RecordKind<NodeAuthRecord>,
  /** mesh_secrets `registry.<serviceId>`. */
  registryAuth: { schema: W.RegistryAuthRecord, keyOf: (r) => `registry.${r.serviceId}` } satisfies RecordKind<RegistryAuthRecord>,
  /** mesh_alloc: a claim (`vni.N`, ...) or the subnet table (`subnets`). */
  claim: { schema: W.AllocClaim } satisfies RecordKind<{ owner: string }>,
  subnets: { schema: W.SubnetTable } satisfies RecordKind<Record<string, string>>,
} as const;

/** Who wrote a bad record, as far as the key tells: its first token (a node id for status). */
export function badRecord(bucket: string, key: string, reason: string): BadInput {
  return { sender: key.split('.')[0] ?? key, where: `${bucket}/${key}`, reason };
}
