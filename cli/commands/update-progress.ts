/**
 * Where a service's update (or rollback) of its tasks stands, as `stack deploy`, `service update`
 * and `service rollback` show it while they wait: pure, from two cluster snapshots.
 */
import { runsCurrentSpec, type ServiceRecord } from '../../core/model.js';
import type { ClusterSnapshot } from '../cluster-view.js';

export interface UpdateProgress {
  /** `updating 2/4`, `update paused`, ... or undefined when no update of this command's making is in view. */
  line?: string;
  /** The update is under way: not done, whatever the replica counts say. */
  busy: boolean;
  /** It paused or was rolled back (the command exits non-zero, saying why). */
  failure?: string;
}

/** Whether the service's update status is one this command caused or follows (new since `before`). */
function isNew(s: ServiceRecord, before: ClusterSnapshot | undefined): boolean {
  if (!s.updateStatus) return false;
  const old = before?.services.find((b) => b.id === s.id);
  return !old || old.version !== s.version || old.updateStatus?.startedAt !== s.updateStatus.startedAt || old.updateStatus.state !== s.updateStatus.state;
}

/**
 * `expectRollback`: the command itself asked for the rollback (`service rollback`), so a completed
 * rollback is success; otherwise a rollback means the update failed.
 */
export function updateProgress(snap: ClusterSnapshot, s: ServiceRecord, opts: { before?: ClusterSnapshot; expectRollback?: boolean } = {}): UpdateProgress {
  const u = s.updateStatus;
  if (!u || !isNew(s, opts.before)) return { busy: false };
  const wanted = s.spec.mode === 'global' ? undefined : s.spec.replicas;
  const updated = snap.tasks.filter((t) => t.serviceId === s.id && t.desiredState === 'running' && runsCurrentSpec(s, t) && snap.statuses.get(t.id)?.state === 'running').length;
  const count = wanted === undefined ? `${updated} updated` : `${updated}/${wanted} updated`;
  switch (u.state) {
    case 'updating':
      return { busy: true, line: `updating (${count})` };
    case 'rollback_started':
      return { busy: true, line: `rolling back (${count}): ${u.message}` };
    case 'completed':
      return { busy: false, line: 'update completed' };
    case 'paused':
    case 'rollback_paused':
      return { busy: false, line: u.state.replace('_', ' '), failure: u.message };
    case 'rollback_completed':
      return opts.expectRollback ? { busy: false, line: 'rollback completed' } : { busy: false, line: 'rolled back', failure: u.message };
  }
}
