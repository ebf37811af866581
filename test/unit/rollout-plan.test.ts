import { describe, expect, it } from 'vitest';
import { schedulingPlan, type SchedulerAction } from '../../manager/scheduler/plan.js';
import { DEFAULT_UPDATE_CONFIG, type NodeRecord, type ServiceRecord, type TaskRecord, type TaskStatus, type UpdateConfig } from '../../core/model.js';
import type { RolloutView } from '../../manager/scheduler/rollout.js';

const NOW_ISO = '2026-12-03T12:00:00.000Z';

function node(id: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return { id, hostname: `host-${id}`, role: 'worker', runsTasks: true, addr: '172.30.0.1', labels: {}, status: 'ready', statusMessage: '', joinedAt: '', updatedAt: '', ...extra };
}

/** Service `web` at version 2, its update to version 2 under way. */
function web(update: Partial<UpdateConfig> = {}, extra: Partial<ServiceRecord> = {}): ServiceRecord {
  const spec = {
    name: 'web',
    command: ['v2'],
    environment: {},
    mode: 'replicated' as const,
    replicas: 4,
    endpointMode: 'vip' as const,
    constraints: [],
    restartPolicy: { condition: 'any' as const, delayMs: 0, maxAttempts: 0 },
    ports: [],
    networks: [],
    updateConfig: { ...DEFAULT_UPDATE_CONFIG, ...update },
    rollbackConfig: { ...DEFAULT_UPDATE_CONFIG },
  };
  return {
    id: 'web',
    name: 's_web',
    stack: 's',
    spec,
    previousSpec: { ...spec, command: ['v1'] },
    networks: [],
    version: 2,
    endpoint: { vips: [], ports: [] },
    updateStatus: { state: 'updating', startedAt: NOW_ISO, message: 'update in progress', version: 2 },
    createdAt: '',
    updatedAt: '',
    ...extra,
  };
}

let seq = 0;
function task(nodeId: string, slot: number, specVersion: number, extra: Partial<TaskRecord> = {}): TaskRecord {
  seq++;
  return { id: `t${seq}`, serviceId: 'web', serviceName: 's_web', slot, name: `s_web.${slot}`, nodeId, desiredState: 'running', specVersion, addresses: [], createdAt: `2026-01-01T00:00:${String(seq).padStart(2, '0')}Z`, ...extra };
}

function running(t: TaskRecord, extra: Partial<TaskStatus> = {}): [string, TaskStatus] {
  return [t.id, { taskId: t.id, nodeId: t.nodeId, state: 'running', message: '', restarts: 0, updatedAt: '', ...extra }];
}

function view(extra: Partial<RolloutView> = {}): RolloutView {
  return { now: 100_000, runningSince: new Map(), idleSince: new Map(), servingEverywhere: new Set(), ...extra };
}

function render(actions: SchedulerAction[]): string[] {
  return actions
    .map((a) => {
      if (a.type === 'create') return `create slot=${a.slot} on ${a.nodeId}`;
      if (a.type === 'update-status') return `status ${a.status.state}: ${a.status.message}`;
      if (a.type === 'rollback') return `rollback (${a.reason})`;
      if (a.type === 'retire') return `retire ${a.taskId}`;
      return `${a.type} ${a.taskId} (${a.reason})`;
    })
    .sort();
}

const nodes = [node('a'), node('b'), node('c')];
/** Four v1 replicas spread over three nodes, all serving. */
function oldFour(): TaskRecord[] {
  return [task('a', 1, 1), task('b', 2, 1), task('c', 3, 1), task('a', 4, 1)];
}

describe('rolling updates (update_config)', () => {
  it('start-first, parallelism 2: successors of two slots start first; the predecessors stay', () => {
    const old = oldFour();
    const plan = schedulingPlan({ nodes, services: [web({ order: 'start-first', parallelism: 2 })], tasks: old, statuses: new Map(old.map((t) => running(t))), view: view({ servingEverywhere: new Set(old.map((t) => t.id)) }), nowIso: NOW_ISO });
    expect(render(plan.actions)).toEqual(['create slot=1 on b', 'create slot=2 on c']);
  });

  it('start-first: a predecessor leaves only once its successor serves on every node; meanwhile nothing else starts', () => {
    const old = oldFour();
    const next1 = task('b', 1, 2);
    const next2 = task('c', 2, 2);
    const tasks = [...old, next1, next2];
    const statuses = new Map([...old, next1, next2].map((t) => running(t)));
    const serving = new Set([...old.map((t) => t.id), next1.id]);
    const plan = schedulingPlan({ nodes, services: [web({ order: 'start-first', parallelism: 2 })], tasks, statuses, view: view({ servingEverywhere: serving }), nowIso: NOW_ISO });
    expect(render(plan.actions)).toEqual([`shutdown ${old[0]!.id} (replaced by s_web.1 (${next1.id}))`]);
    expect(plan.idle.has('web')).toBe(false);
  });

  it('stop-first, parallelism 1: one predecessor out and its successor in, together; the next batch waits for it to serve everywhere', () => {
    const old = oldFour();
    const first = schedulingPlan({ nodes, services: [web()], tasks: old, statuses: new Map(old.map((t) => running(t))), view: view({ servingEverywhere: new Set(old.map((t) => t.id)) }), nowIso: NOW_ISO });
    expect(render(first.actions)).toEqual(['create slot=1 on a', `shutdown ${old[0]!.id} (service updated)`]);
    const next = task('b', 1, 2);
    const tasks = [{ ...old[0]!, desiredState: 'shutdown' as const }, ...old.slice(1), next];
    const statuses = new Map([...old, next].map((t) => running(t)));
    const waiting = schedulingPlan({ nodes, services: [web()], tasks, statuses, view: view({ servingEverywhere: new Set(old.slice(1).map((t) => t.id)) }), nowIso: NOW_ISO });
    expect(render(waiting.actions)).toEqual([]);
  });

  it('waits update_config.delay after a batch is done before the next, and asks to be woken then', () => {
    const old = oldFour();
    const next = task('b', 1, 2);
    const tasks = [...old.slice(1), next];
    const statuses = new Map(tasks.map((t) => running(t)));
    const serving = new Set(tasks.map((t) => t.id));
    const services = [web({ delayMs: 3_000 })];
    const early = schedulingPlan({ nodes, services, tasks, statuses, view: view({ servingEverywhere: serving, idleSince: new Map([['web', 99_000]]) }), nowIso: NOW_ISO });
    expect(render(early.actions)).toEqual([]);
    expect(early.wakeInMs).toBe(2_000);
    const later = schedulingPlan({ nodes, services, tasks, statuses, view: view({ servingEverywhere: serving, idleSince: new Map([['web', 97_000]]) }), nowIso: NOW_ISO });
    expect(render(later.actions)).toEqual(['create slot=2 on a', `shutdown ${old[1]!.id} (service updated)`]);
  });

  it('parallelism 0 replaces every slot at once', () => {
    const old = oldFour();
    const plan = schedulingPlan({ nodes, services: [web({ parallelism: 0 })], tasks: old, statuses: new Map(old.map((t) => running(t))), view: view({ servingEverywhere: new Set(old.map((t) => t.id)) }), nowIso: NOW_ISO });
    expect(render(plan.actions).filter((a) => a.startsWith('shutdown'))).toHaveLength(4);
    expect(render(plan.actions).filter((a) => a.startsWith('create'))).toHaveLength(4);
  });

  it('completes once every slot runs the new version and the monitor period of the last one is over', () => {
    const tasks = [task('a', 1, 2), task('b', 2, 2), task('c', 3, 2), task('a', 4, 2)];
    const statuses = new Map(tasks.map((t) => running(t)));
    const serving = new Set(tasks.map((t) => t.id));
    const watching = schedulingPlan({ nodes, services: [web()], tasks, statuses, view: view({ servingEverywhere: serving, runningSince: new Map(tasks.map((t, i) => [t.id, i === 3 ? 98_000 : 90_000])) }), nowIso: NOW_ISO });
    expect(render(watching.actions)).toEqual([]);
    expect(watching.wakeInMs).toBe(5_000);
    const done = schedulingPlan({ nodes, services: [web()], tasks, statuses, view: view({ servingEverywhere: serving, runningSince: new Map(tasks.map((t) => [t.id, 90_000])) }), nowIso: NOW_ISO });
    expect(render(done.actions)).toEqual(['status completed: update completed']);
  });
});

describe('failed updates (failure_action, max_failure_ratio, monitor)', () => {
  /** Slot 1 replaced by a v2 task in the given state; slots 2-4 still v1. */
  function oneNew(status: Partial<TaskStatus>, runningSinceMs?: number) {
    const old = oldFour().slice(1);
    const next = task('b', 1, 2);
    const tasks = [...old, next];
    const statuses = new Map([...old.map((t) => running(t)), running(next, status)]);
    const serving = new Set(old.map((t) => t.id));
    const v = view({ servingEverywhere: serving, runningSince: new Map(runningSinceMs === undefined ? [] : [[next.id, runningSinceMs]]) });
    return { tasks, statuses, view: v, next, serving };
  }

  it('failure_action rollback: a new task that exited rolls the service back', () => {
    const s = oneNew({ state: 'starting', exitCode: 1, restarts: 0, message: 'exit code 1; restarting in 0 ms' });
    const plan = schedulingPlan({ nodes, services: [web({ failureAction: 'rollback' })], ...s, nowIso: NOW_ISO });
    expect(render(plan.actions)).toEqual(['rollback (update rolled back due to failure or early termination of task s_web.1: exit code 1; restarting in 0 ms)']);
  });

  it('failure_action pause (the default): stops and says which task failed and why', () => {
    const s = oneNew({ state: 'running', restarts: 2, message: '' });
    const plan = schedulingPlan({ nodes, services: [web()], ...s, nowIso: NOW_ISO });
    expect(render(plan.actions)).toEqual(['status paused: update paused due to failure or early termination of task s_web.1: exited and was restarted 2 times']);
  });

  it('a new task not serving within monitor counts as failed (never healthy)', () => {
    const s = oneNew({ state: 'running', health: 'starting' }, 94_000);
    const plan = schedulingPlan({ nodes, services: [web({ failureAction: 'rollback', monitorMs: 5_000 })], ...s, nowIso: NOW_ISO });
    expect(render(plan.actions)).toEqual(['rollback (update rolled back due to failure or early termination of task s_web.1: not serving 5 s after it started (health check not passed yet))']);
    const inTime = oneNew({ state: 'running', health: 'starting' }, 96_000);
    expect(render(schedulingPlan({ nodes, services: [web({ failureAction: 'rollback', monitorMs: 5_000 })], ...inTime, nowIso: NOW_ISO }).actions)).toEqual([]);
  });

  it('max_failure_ratio tolerates failures up to the ratio of the tasks updated; continue ignores them', () => {
    const s = oneNew({ state: 'failed', message: 'exit code 3' });
    expect(render(schedulingPlan({ nodes, services: [web({ maxFailureRatio: 0.25 })], ...s, nowIso: NOW_ISO }).actions)).toEqual(['create slot=2 on a', `shutdown ${s.tasks[0]!.id} (service updated)`]);
    expect(render(schedulingPlan({ nodes, services: [web({ maxFailureRatio: 0.2 })], ...s, nowIso: NOW_ISO }).actions)).toEqual(['status paused: update paused due to failure or early termination of task s_web.1: failed: exit code 3']);
    expect(render(schedulingPlan({ nodes, services: [web({ failureAction: 'continue' })], ...s, nowIso: NOW_ISO }).actions)).toEqual(['create slot=2 on a', `shutdown ${s.tasks[0]!.id} (service updated)`]);
  });

  it('a paused update starts no batch', () => {
    const s = oneNew({ state: 'running' });
    s.serving.add(s.next.id);
    const paused = web({}, { updateStatus: { state: 'paused', startedAt: NOW_ISO, message: 'update paused', version: 2 } });
    expect(render(schedulingPlan({ nodes, services: [paused], tasks: s.tasks, statuses: s.statuses, view: s.view, nowIso: NOW_ISO }).actions)).toEqual([]);
  });

  it('a rollback is paced by the rollback_config of the spec rolled back from, and pauses as rollback_paused', () => {
    const old = oldFour();
    const back = web({}, { updateStatus: { state: 'rollback_started', startedAt: NOW_ISO, message: 'manually requested rollback', version: 2 } });
    back.previousSpec = { ...back.spec, rollbackConfig: { ...DEFAULT_UPDATE_CONFIG, parallelism: 3 } };
    const plan = schedulingPlan({ nodes, services: [back], tasks: old, statuses: new Map(old.map((t) => running(t))), view: view({ servingEverywhere: new Set(old.map((t) => t.id)) }), nowIso: NOW_ISO });
    expect(render(plan.actions).filter((a) => a.startsWith('create'))).toHaveLength(3);
    const s = oneNew({ state: 'rejected', message: 'no such image' });
    expect(render(schedulingPlan({ nodes, services: [back], ...s, nowIso: NOW_ISO }).actions)).toContain('status rollback_paused: rollback paused due to failure or early termination of task s_web.1: rejected: no such image');
  });
});

describe('rollbacks keep what the failed update never touched', () => {
  it('only the slots running the failed version are replaced; tasks of the spec rolled back to stay', () => {
    const back = web({ parallelism: 0 }, { version: 3, sameSpecVersions: [1], updateStatus: { state: 'rollback_started', startedAt: NOW_ISO, message: 'update rolled back', version: 3 } });
    const failed = task('a', 1, 2);
    const kept = [task('b', 2, 1), task('c', 3, 1), task('a', 4, 1)];
    const tasks = [failed, ...kept];
    const plan = schedulingPlan({ nodes, services: [back], tasks, statuses: new Map(tasks.map((t) => running(t))), view: view({ servingEverywhere: new Set(kept.map((t) => t.id)) }), nowIso: NOW_ISO });
    expect(render(plan.actions)).toEqual(['create slot=1 on a', `shutdown ${failed.id} (service updated)`]);
  });
});

describe('node availability', () => {
  it('drain: the node\'s tasks are replaced elsewhere, one batch at a time; pause: its tasks stay, no new task lands there', () => {
    const svc = web({}, { version: 1, updateStatus: undefined });
    const ts = [task('a', 1, 1), task('b', 2, 1), task('b', 3, 1), task('c', 4, 1)];
    const statuses = new Map(ts.map((t) => running(t)));
    const v = view({ servingEverywhere: new Set(ts.map((t) => t.id)) });
    const drained = [node('a'), node('b', { availability: 'drain' }), node('c', { availability: 'pause' })];
    const plan = schedulingPlan({ nodes: drained, services: [svc], tasks: ts, statuses, view: v, nowIso: NOW_ISO });
    expect(render(plan.actions)).toEqual(['create slot=2 on a', `shutdown ${ts[1]!.id} (node drained)`]);
  });
});
