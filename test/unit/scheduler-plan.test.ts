import { describe, expect, it } from 'vitest';
import { HISTORY_PER_SLOT, planScheduling, type SchedulerAction } from '../../manager/scheduler/plan.js';
import type { NodeRecord, ServiceRecord, ServiceSpec, TaskRecord, TaskStatus } from '../../core/model.js';

function node(id: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return { id, hostname: `host-${id}`, role: 'worker', runsTasks: true, addr: `172.30.0.${id.length}`, labels: {}, status: 'ready', statusMessage: '', joinedAt: '', updatedAt: '', ...extra };
}

function service(id: string, spec: Partial<ServiceSpec> = {}, version = 1): ServiceRecord {
  return {
    id,
    name: `s_${id}`,
    stack: 's',
    spec: {
      name: id,
      command: ['true'],
      environment: {},
      mode: 'replicated',
      replicas: 1,
      endpointMode: 'vip',
      constraints: [],
      restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0 },
      ports: [],
      networks: [],
      ...spec,
    },
    networks: [],
    version,
    endpoint: { vips: [], ports: [] },
    createdAt: '',
    updatedAt: '',
  };
}

let seq = 0;
function task(serviceId: string, nodeId: string, slot: number, extra: Partial<TaskRecord> = {}): TaskRecord {
  seq++;
  return { id: `t${seq}`, serviceId, serviceName: `s_${serviceId}`, slot, name: `s_${serviceId}.${slot}`, nodeId, desiredState: 'running', specVersion: 1, addresses: [], createdAt: `2026-01-01T00:00:${String(seq).padStart(2, '0')}Z`, ...extra };
}

function status(t: TaskRecord, state: TaskStatus['state']): [string, TaskStatus] {
  return [t.id, { taskId: t.id, nodeId: t.nodeId, state, message: '', restarts: 0, updatedAt: '' }];
}

/** Renders actions as sorted text so whole plans compare at once. */
function render(actions: SchedulerAction[]): string[] {
  return actions.map(renderAction).sort();
}

function renderAction(a: SchedulerAction): string {
  switch (a.type) {
    case 'create':
      return `create ${a.serviceId} slot=${a.slot} on ${a.nodeId}`;
    case 'retire':
      return `retire ${a.taskId}`;
    case 'update-status':
      return `update-status ${a.serviceId} ${a.status.state}: ${a.status.message}`;
    case 'rollback':
      return `rollback ${a.serviceId} (${a.reason})`;
    default:
      return `${a.type} ${a.taskId} (${a.reason})`;
  }
}

describe('scheduling planner', () => {
  const nodes = [node('a'), node('b'), node('c')];

  it('spreads replicas over nodes, fewest tasks first', () => {
    const plan = planScheduling({ nodes, services: [service('web', { replicas: 5 })], tasks: [], statuses: new Map() });
    expect(render(plan)).toEqual([
      'create web slot=1 on a',
      'create web slot=2 on b',
      'create web slot=3 on c',
      'create web slot=4 on a',
      'create web slot=5 on b',
    ]);
  });

  it('prefers the nodes with fewer tasks of any service', () => {
    const busy = [task('other', 'a', 1), task('other', 'b', 2)];
    const plan = planScheduling({ nodes, services: [service('other', { replicas: 2 }), service('web')], tasks: busy, statuses: new Map() });
    expect(render(plan)).toEqual(['create web slot=1 on c']);
  });

  it('places by hostname, role and label constraints, == and !=', () => {
    const labelled = [node('a', { labels: { zone: 'x' } }), node('b', { role: 'manager' }), node('c', { labels: { zone: 'y' } })];
    const services = [
      service('byhost', { replicas: 2, constraints: [{ key: 'node.hostname', op: '==', value: 'host-c' }] }),
      service('notmgr', { replicas: 2, constraints: [{ key: 'node.role', op: '!=', value: 'manager' }] }),
      service('zone', { replicas: 1, constraints: [{ key: 'node.labels.zone', op: '==', value: 'x' }] }),
      service('nowhere', { replicas: 1, constraints: [{ key: 'node.labels.zone', op: '==', value: 'none' }] }),
    ];
    expect(render(planScheduling({ nodes: labelled, services, tasks: [], statuses: new Map() }))).toEqual([
      'create byhost slot=1 on c',
      'create byhost slot=2 on c',
      'create notmgr slot=1 on a',
      'create notmgr slot=2 on c',
      'create zone slot=1 on a',
    ]);
  });

  it('runs one task per eligible node in global mode, and none on down or draining nodes', () => {
    const mixed = [node('a'), node('b', { status: 'down' }), node('c', { runsTasks: false }), node('d')];
    const plan = planScheduling({ nodes: mixed, services: [service('g', { mode: 'global' })], tasks: [], statuses: new Map() });
    expect(render(plan)).toEqual(['create g slot=0 on a', 'create g slot=0 on d']);
  });

  it('removes tasks of a down node and re-creates their slots elsewhere', () => {
    const t1 = task('web', 'a', 1);
    const t2 = task('web', 'b', 2);
    const down = [node('a', { status: 'down' }), node('b'), node('c')];
    const plan = planScheduling({ nodes: down, services: [service('web', { replicas: 2 })], tasks: [t1, t2], statuses: new Map([status(t1, 'running'), status(t2, 'running')]) });
    expect(render(plan)).toEqual([`create web slot=1 on c`, `remove ${t1.id} (node host-a is down)`]);
  });

  it('scales down from the highest slots and replaces outdated tasks one batch at a time (Docker default: parallelism 1, stop-first)', () => {
    const ts = [task('web', 'a', 1), task('web', 'b', 2, { specVersion: 1 }), task('web', 'c', 3)];
    const svc = service('web', { replicas: 2 }, 2);
    const plan = planScheduling({ nodes, services: [svc], tasks: ts, statuses: new Map(ts.map((t) => status(t, 'running'))) });
    expect(render(plan)).toEqual(['create web slot=1 on a', `shutdown ${ts[0]!.id} (service updated)`, `shutdown ${ts[2]!.id} (scaled down)`]);
  });

  it('shuts down tasks of a removed service and removes them once stopped; keeps a live service\'s finished tasks as history, addresses released', () => {
    const orphan = task('gone', 'a', 1);
    const orphanDone = task('gone', 'b', 2, { desiredState: 'shutdown' });
    const finished = task('web', 'b', 1, { desiredState: 'shutdown', addresses: [{ networkId: 'n', addr: '10.0.0.5/24' }] });
    const retired = task('web', 'b', 1, { desiredState: 'shutdown' });
    const stopping = task('web', 'c', 2, { desiredState: 'shutdown' });
    const keep = task('web', 'a', 1);
    const plan = planScheduling({
      nodes,
      services: [service('web')],
      tasks: [orphan, orphanDone, finished, retired, stopping, keep],
      statuses: new Map([status(orphanDone, 'shutdown'), status(finished, 'shutdown'), status(retired, 'complete'), status(stopping, 'running'), status(keep, 'running')]),
    });
    expect(render(plan)).toEqual([`remove ${orphanDone.id} (task shutdown)`, `retire ${finished.id}`, `shutdown ${orphan.id} (service removed)`]);
  });

  it(`keeps at most ${HISTORY_PER_SLOT} finished tasks per slot, removing the oldest`, () => {
    const history = Array.from({ length: HISTORY_PER_SLOT + 2 }, () => task('web', 'a', 1, { desiredState: 'shutdown' }));
    const keep = task('web', 'a', 1);
    const plan = planScheduling({ nodes, services: [service('web')], tasks: [...history, keep], statuses: new Map([...history.map((t) => status(t, 'shutdown')), status(keep, 'running')]) });
    expect(render(plan)).toEqual([`remove ${history[0]!.id} (task history limit)`, `remove ${history[1]!.id} (task history limit)`]);
  });

  it('keeps a task whose restarts ran out (failed) in its slot, and replaces a rejected one', () => {
    const failed = task('web', 'a', 1);
    const rejected = task('web', 'b', 2);
    const plan = planScheduling({ nodes, services: [service('web', { replicas: 2 })], tasks: [failed, rejected], statuses: new Map([status(failed, 'failed'), status(rejected, 'rejected')]) });
    expect(render(plan)).toEqual([`create web slot=2 on b`, `shutdown ${rejected.id} (task rejected by its node)`]);
  });

  it('is idempotent: a converged cluster plans nothing', () => {
    const ts = [task('web', 'a', 1), task('web', 'b', 2), task('g', 'a', 0), task('g', 'b', 0), task('g', 'c', 0)];
    const plan = planScheduling({ nodes, services: [service('web', { replicas: 2 }), service('g', { mode: 'global' })], tasks: ts, statuses: new Map(ts.map((t) => status(t, 'running'))) });
    expect(plan).toEqual([]);
  });

  it('places image tasks only on nodes with a container engine, command tasks anywhere', () => {
    const mixed = [node('a', { containerEngine: 'podman 4.3.1' }), node('b'), node('c', { containerEngine: 'podman 4.3.1' })];
    const plan = planScheduling({
      nodes: mixed,
      services: [service('img', { image: 'registry.test:5000/web:1', replicas: 3 }), service('cmd', { replicas: 3 })],
      tasks: [],
      statuses: new Map(),
    });
    expect(render(plan)).toEqual([
      'create cmd slot=1 on a',
      'create cmd slot=2 on b',
      'create cmd slot=3 on c',
      'create img slot=1 on a',
      'create img slot=2 on c',
      'create img slot=3 on a',
    ]);
  });

  it("places a task only where its reservations fit the node's unreserved capacity", () => {
    const GiB = 1024 ** 3;
    const sized = [node('a', { resources: { nanoCpus: 4e9, memoryBytes: 8 * GiB } }), node('b', { resources: { nanoCpus: 2e9, memoryBytes: 4 * GiB } }), node('c')];
    // c reports no capacity (an older node): it takes any task. a already holds 4 GiB of db.
    const db = service('db', { reservations: { memoryBytes: 4 * GiB } });
    const held = [task('db', 'a', 1)];
    const big = service('big', { replicas: 4, reservations: { nanoCpus: 2e9, memoryBytes: 3 * GiB }, constraints: [{ key: 'node.hostname', op: '!=', value: 'host-c' }] });
    const plan = planScheduling({ nodes: sized, services: [db, big], tasks: held, statuses: new Map() });
    // b first (fewer tasks); a has 4 GiB left (one big task), b 4 GiB and 2 cpus (one): slots 3 and 4 find no node.
    expect(render(plan)).toEqual(['create big slot=1 on b', 'create big slot=2 on a']);
    // Global mode: one per node where it fits.
    const everywhere = service('agent', { mode: 'global', reservations: { nanoCpus: 3e9 } });
    expect(render(planScheduling({ nodes: sized, services: [everywhere], tasks: [], statuses: new Map() }))).toEqual(['create agent slot=0 on a', 'create agent slot=0 on c']);
  });
});
