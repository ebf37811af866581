/**
 * The planner and node availability (`meshctl node update --availability`): a node may receive a
 * new task only when active; a paused node keeps its tasks, a drained one loses them (replaced
 * elsewhere); a task whose node was removed (`meshctl node rm`) is removed and placed again.
 */
import { describe, expect, it } from 'vitest';
import { mayKeepTask, mayReceiveTask, planScheduling, type SchedulerAction } from '../../manager/scheduler/plan.js';
import { DEFAULT_UPDATE_CONFIG, type NodeRecord, type ServiceRecord, type ServiceSpec, type TaskRecord, type TaskStatus } from '../../core/model.js';

function node(id: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return { id, hostname: `host-${id}`, role: 'worker', runsTasks: true, addr: '172.30.0.10', labels: {}, status: 'ready', statusMessage: '', joinedAt: '', updatedAt: '', ...extra };
}

function service(id: string, spec: Partial<ServiceSpec> = {}): ServiceRecord {
  return {
    id,
    name: `s_${id}`,
    stack: 's',
    spec: { name: id, command: ['true'], environment: {}, mode: 'replicated', replicas: 1, endpointMode: 'vip', constraints: [], restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0 }, ports: [], networks: [], ...spec },
    networks: [],
    version: 1,
    endpoint: { vips: [], ports: [] },
    createdAt: '',
    updatedAt: '',
  };
}

let seq = 0;
function task(serviceId: string, nodeId: string, slot: number): TaskRecord {
  seq++;
  return { id: `t${seq}`, serviceId, serviceName: `s_${serviceId}`, slot, name: `s_${serviceId}.${slot}`, nodeId, desiredState: 'running', specVersion: 1, addresses: [], createdAt: `2026-01-01T00:00:${String(seq).padStart(2, '0')}Z` };
}

const running = (ts: TaskRecord[]): Map<string, TaskStatus> => new Map(ts.map((t) => [t.id, { taskId: t.id, nodeId: t.nodeId, state: 'running', message: '', restarts: 0, updatedAt: '' }]));

function render(actions: SchedulerAction[]): string[] {
  return actions.map((a) => (a.type === 'create' ? `create ${a.serviceId} slot=${a.slot} on ${a.nodeId}` : a.type === 'shutdown' || a.type === 'remove' ? `${a.type} ${a.taskId} (${a.reason})` : a.type)).sort();
}

describe('scheduling and node availability', () => {
  it('splits eligibility: receive a new task (active only) and keep a task (active or pause)', () => {
    const svc = service('web');
    const verdicts = (['active', 'pause', 'drain', undefined] as const).map((availability) => {
      const n = node('a', availability ? { availability } : {});
      return [availability ?? 'absent', mayReceiveTask(n, svc), mayKeepTask(n, svc)];
    });
    expect(verdicts).toEqual([
      ['active', true, true],
      ['pause', false, true],
      ['drain', false, false],
      ['absent', true, true],
    ]);
    // The other conditions still hold for both.
    expect([mayKeepTask(node('a', { status: 'down' }), svc), mayKeepTask(node('a', { runsTasks: false }), svc)]).toEqual([false, false]);
  });

  it('places no new task on a paused node, and keeps the ones it has', () => {
    const nodes = [node('a', { availability: 'pause' }), node('b'), node('c')];
    const held = [task('web', 'a', 1)];
    const plan = planScheduling({ nodes, services: [service('web', { replicas: 4 })], tasks: held, statuses: running(held) });
    expect(render(plan)).toEqual(['create web slot=2 on b', 'create web slot=3 on c', 'create web slot=4 on b']);
  });

  it("replaces a drained node's tasks elsewhere as the service's update_config paces it (default: one at a time), with the reason 'node drained'", () => {
    const nodes = [node('a', { availability: 'drain' }), node('b'), node('c')];
    const ts = [task('web', 'a', 1), task('web', 'b', 2), task('web', 'a', 3)];
    const plan = planScheduling({ nodes, services: [service('web', { replicas: 3 })], tasks: ts, statuses: running(ts) });
    expect(render(plan)).toEqual(['create web slot=1 on c', `shutdown ${ts[0]!.id} (node drained)`]);
    const all = planScheduling({ nodes, services: [service('web', { replicas: 3, updateConfig: { ...DEFAULT_UPDATE_CONFIG, parallelism: 0 } })], tasks: ts, statuses: running(ts) });
    expect(render(all)).toEqual(['create web slot=1 on c', 'create web slot=3 on b', `shutdown ${ts[0]!.id} (node drained)`, `shutdown ${ts[2]!.id} (node drained)`]);
  });

  it('global services: a drained node loses its task, a paused one keeps it and gets none new', () => {
    const nodes = [node('a', { availability: 'drain' }), node('b', { availability: 'pause' }), node('c', { availability: 'pause' }), node('d')];
    const ts = [task('g', 'a', 0), task('g', 'b', 0)];
    const plan = planScheduling({ nodes, services: [service('g', { mode: 'global' })], tasks: ts, statuses: running(ts) });
    expect(render(plan)).toEqual(['create g slot=0 on d', `shutdown ${ts[0]!.id} (node drained)`]);
  });

  it('back to active: a drained node takes tasks again', () => {
    const plan = planScheduling({ nodes: [node('a', { availability: 'active' })], services: [service('web')], tasks: [], statuses: new Map() });
    expect(render(plan)).toEqual(['create web slot=1 on a']);
  });

  it('removes the tasks of a removed node (no record) and places their slots again', () => {
    const ts = [task('web', 'gone', 1), task('web', 'b', 2)];
    const plan = planScheduling({ nodes: [node('b'), node('c')], services: [service('web', { replicas: 2 })], tasks: ts, statuses: running(ts) });
    expect(render(plan)).toEqual(['create web slot=1 on c', `remove ${ts[0]!.id} (node gone removed)`]);
  });
});
