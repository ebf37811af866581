/**
 * Compile-time proof that every wire schema describes exactly its documented interface, both
 * ways: a field added to the interface but not the schema (which zod would strip on read) or to
 * the schema but not the interface fails `tsc` here. Nothing in this file runs.
 */
import type * as z from 'zod';
import type * as S from './schemas.js';
import type * as M from '../model.js';
import type { ClusterConfig } from '../../manager/cluster-config.js';
import type { LeaderLease } from '../../manager/leader.js';
import type { NodeAuthRecord } from '../../manager/join.js';
import type { NodeAnnouncement } from '../../manager/node-registry.js';
import type { JoinGrant, JoinRequest } from '../auth/join-protocol.js';
import type { FenceRecord } from '../../manager/scheduler/fence.js';
import type { CommitJournal, StackLockRecord } from '../../manager/deploy/stack-lock.js';
import type { NodeUpdateRequest } from '../../manager/node-update.js';
import type { NodeRmRequest } from '../../manager/node-remove.js';
import type { DeployRequest } from '../../manager/deploy/deployer.js';
import type { ServiceUpdateRequest } from '../../manager/deploy/service-update.js';
import type { LogRequest, TaskLog } from '../../worker/logs.js';
import type { WireError } from '../errors.js';
import type { ClusterSecrets } from '../auth/secrets.js';

/** True only when A and B are the same type (not merely assignable one way). */
export type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Same<Schema extends z.ZodType, I> = Equals<z.infer<Schema>, I>;
/** Fails to compile on the line of a check that is false. */
type Assert<T extends true> = T;

type Checks = [
  Assert<Same<typeof S.PortSpec, M.PortSpec>>,
  Assert<Same<typeof S.RestartPolicy, M.RestartPolicy>>,
  Assert<Same<typeof S.HealthTest, M.HealthTest>>,
  Assert<Same<typeof S.Healthcheck, M.Healthcheck>>,
  Assert<Same<typeof S.Constraint, M.Constraint>>,
  Assert<Same<typeof S.ServiceNetworkSpec, M.ServiceNetworkSpec>>,
  Assert<Same<typeof S.ServiceSpec, M.ServiceSpec>>,
  Assert<Same<typeof S.NodeRecord, M.NodeRecord>>,
  Assert<Same<typeof S.EndpointRecord, M.EndpointRecord>>,
  Assert<Same<typeof S.UpdateConfig, M.UpdateConfig>>,
  Assert<Same<typeof S.ServiceUpdateRequest, ServiceUpdateRequest>>,
  Assert<Same<typeof S.DataplaneApplied, M.DataplaneApplied>>,
  Assert<Same<typeof S.NetworkRecord, M.NetworkRecord>>,
  Assert<Same<typeof S.VirtualIP, M.VirtualIP>>,
  Assert<Same<typeof S.PublishedPort, M.PublishedPort>>,
  Assert<Same<typeof S.ServiceNetworkAttachment, M.ServiceNetworkAttachment>>,
  Assert<Same<typeof S.ServiceRecord, M.ServiceRecord>>,
  Assert<Same<typeof S.LbAddress, M.LbAddress>>,
  Assert<Same<typeof S.TaskAddress, M.TaskAddress>>,
  Assert<Same<typeof S.TaskRecord, M.TaskRecord>>,
  Assert<Same<typeof S.TaskStatus, M.TaskStatus>>,
  Assert<Same<typeof S.ClusterConfig, ClusterConfig>>,
  Assert<Same<typeof S.LeaderLease, LeaderLease>>,
  Assert<Same<typeof S.FenceRecord, FenceRecord>>,
  Assert<Same<typeof S.CommitJournal, CommitJournal>>,
  Assert<Same<typeof S.StackLockRecord, StackLockRecord>>,
  Assert<Same<typeof S.NodeAuthRecord, NodeAuthRecord>>,
  Assert<Same<typeof S.NodeAnnouncement, NodeAnnouncement>>,
  Assert<Same<typeof S.JoinRequest, JoinRequest>>,
  Assert<Same<typeof S.JoinGrant, JoinGrant>>,
  Assert<Same<typeof S.ClusterSecrets, ClusterSecrets>>,
  Assert<Same<typeof S.DeployRequest, DeployRequest>>,
  Assert<Same<typeof S.NodeUpdateRequest, NodeUpdateRequest>>,
  Assert<Same<typeof S.NodeRmRequest, NodeRmRequest>>,
  Assert<Same<typeof S.LogRequest, LogRequest>>,
  Assert<Same<typeof S.TaskLog, TaskLog>>,
  Assert<Same<typeof S.WireError, WireError>>,
];

export type WireSchemaChecks = Checks;
