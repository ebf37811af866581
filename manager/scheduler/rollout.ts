/**
 * Rolling updates as data: how a service's update is paced, whether it is under way, paused,
 * failed or done. Pure: the leader's clock and what it has observed come in as a `RolloutView`.
 */
import { DEFAULT_UPDATE_CONFIG, type ServiceRecord, type TaskRecord, type TaskStatus, type UpdateConfig, type UpdateStatus } from '../../core/model.js';

/** What the leader has seen over time, and its clock (monotonic ms). */
export interface RolloutView {
  now: number;
  /** When the leader first saw each task running. */
  runningSince: ReadonlyMap<string, number>;
  /** Since when each service has had no replacement in flight (absent: not idle before this pass). */
  idleSince: ReadonlyMap<string, number>;
  /** Tasks that every live node's load balancers select (status applied everywhere). */
  servingEverywhere: ReadonlySet<string>;
}

/** A view with no history: every serving task counts as serving everywhere, nothing has waited. */
export function timelessView(servingEverywhere: ReadonlySet<string> = new Set()): RolloutView {
  return { now: 0, runningSince: new Map(), idleSince: new Map(), servingEverywhere };
}

/** Whether the service's tasks are being rolled back (rather than forward). */
export function rollingBack(service: ServiceRecord): boolean {
  return service.updateStatus?.state.startsWith('rollback') ?? false;
}

/**
 * The pacing in force: `update_config`, or during a rollback the `rollback_config` of the spec
 * being rolled back from (Docker's rule), now the record's `previousSpec`.
 */
export function pacingOf(service: ServiceRecord): UpdateConfig {
  if (rollingBack(service)) return service.previousSpec?.rollbackConfig ?? service.spec.rollbackConfig ?? DEFAULT_UPDATE_CONFIG;
  return service.spec.updateConfig ?? DEFAULT_UPDATE_CONFIG;
}

/** The update (or rollback) of the service's current version that is under way, if any. */
export function updateUnderWay(service: ServiceRecord): UpdateStatus | undefined {
  const u = service.updateStatus;
  return u && u.version === service.version && (u.state === 'updating' || u.state === 'rollback_started') ? u : undefined;
}

/** Whether the service's current update stopped on a failure (no new batch starts until the next update). */
export function updatePaused(service: ServiceRecord): boolean {
  const u = service.updateStatus;
  return Boolean(u && u.version === service.version && (u.state === 'paused' || u.state === 'rollback_paused'));
}

/**
 * Why a new task counts as failed for its update, or undefined: it exited (even if restarted),
 * failed or was rejected, cannot get its image, fails its health check, or has not passed its
 * health check `monitorMs` after it started (0: not watched for that).
 */
export function failureOf(task: TaskRecord, status: TaskStatus | undefined, view: RolloutView, monitorMs: number): string | undefined {
  if (!status) return undefined;
  if (status.state === 'failed' || status.state === 'rejected' || status.state === 'complete') return `${status.state}: ${status.message}`;
  if (status.error !== undefined) return status.error;
  if (status.exitCode !== undefined && status.state !== 'running') return status.message || `exit code ${status.exitCode}`;
  if (status.restarts > 0) return `exited and was restarted ${status.restarts} time${status.restarts === 1 ? '' : 's'}`;
  if (status.health === 'unhealthy') return 'health check failing';
  const since = view.runningSince.get(task.id);
  // Not healthy within monitor: only a health check the task has not passed counts (a slow node's
  // data plane is not the task's failure; the IPVS lane's emulated CPUs showed that).
  if (monitorMs > 0 && since !== undefined && status.health !== undefined && status.health !== 'healthy' && !view.servingEverywhere.has(task.id) && view.now - since > monitorMs) {
    return `not serving ${monitorMs / 1000} s after it started (health check not passed yet)`;
  }
  return undefined;
}

/** Whether the monitor period of every task of the update has passed (failures after it no longer count). */
export function monitorOver(tasks: readonly TaskRecord[], view: RolloutView, monitorMs: number): boolean {
  return tasks.every((t) => {
    const since = view.runningSince.get(t.id);
    return since !== undefined && view.now - since >= monitorMs;
  });
}

/** The status an update ends in, or moves to on failure. */
export function nextUpdateStatus(
  service: ServiceRecord,
  event: { type: 'completed' } | { type: 'paused'; task: TaskRecord; why: string },
  nowIso: string,
): UpdateStatus {
  const back = rollingBack(service);
  const base = { startedAt: service.updateStatus?.startedAt ?? nowIso, version: service.version };
  if (event.type === 'completed') {
    // A rollback keeps saying why it happened.
    const message = !back ? 'update completed' : service.updateStatus?.state === 'rollback_started' ? `rollback completed: ${service.updateStatus.message}` : 'rollback completed';
    return { ...base, state: back ? 'rollback_completed' : 'completed', completedAt: nowIso, message };
  }
  const what = back ? 'rollback' : 'update';
  return { ...base, state: back ? 'rollback_paused' : 'paused', message: `${what} paused due to failure or early termination of task ${event.task.name}: ${event.why}` };
}
