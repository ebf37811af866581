import { RECORDS } from '../../core/wire/records.js';
import * as z from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { openBuckets, type Buckets } from '../../core/state/buckets.js';
import { startClusterMirrors, allMirrors, type ClusterMirrors } from '../../core/state/cluster-mirrors.js';
import { encode } from '../../core/state/codec.js';
import { readAll } from '../../core/state/read.js';
import { createLogger } from '../../core/log.js';
import { LeaderElection } from '../../manager/leader.js';
import { Allocator } from '../../manager/allocator.js';
import { Scheduler } from '../../manager/scheduler/scheduler.js';
import { FENCE_KEY, FencedError, FencedTaskWriter } from '../../manager/scheduler/fence.js';
import type { NodeRecord, ServiceRecord } from '../../core/model.js';

const log = createLogger({ level: 'error' });

function node(id: string): NodeRecord {
  return { id, hostname: `host-${id}`, role: 'manager', runsTasks: true, addr: '127.0.0.1', labels: {}, status: 'ready', statusMessage: '', joinedAt: '', updatedAt: '' };
}

function service(id: string, replicas: number): ServiceRecord {
  return {
    id,
    name: `s_${id}`,
    stack: 's',
    spec: { name: id, command: ['true'], environment: {}, mode: 'replicated', replicas, endpointMode: 'dnsrr', constraints: [], restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0 }, ports: [], networks: [] },
    networks: [],
    version: 1,
    endpoint: { vips: [], ports: [] },
    createdAt: '',
    updatedAt: '',
  };
}

/** Resolves when `cond` holds (polled); fails with `what` after `ms`. Not a retry: a wait for state. */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Any JSON: the test reads keys only. */
const ANY = { schema: z.unknown() };

describe('leader fencing (real nats-server): a deposed leader cannot write tasks', () => {
  let nats: TestNats;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let a: Buckets;
  let b: Buckets;
  const cleanups: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    nats = await startTestNats();
    ncA = await nats.connect();
    ncB = await nats.connect();
    a = await openBuckets(ncA, { create: { replicas: 1 } });
    b = await openBuckets(ncB, { create: { replicas: 1 } });
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    await nats?.stop();
  });

  it('election terms grow across a takeover, and the old term writer is refused after the new fence', async () => {
    const changes: string[] = [];
    const ea = new LeaderElection(a.control, { nodeId: 'A', log, onChange: (l) => changes.push(`A:${l}`) });
    const eb = new LeaderElection(b.control, { nodeId: 'B', log, onChange: (l) => changes.push(`B:${l}`) });
    cleanups.push(() => ea.stop(), () => eb.stop());
    ea.start();
    await until('A leads', () => ea.isLeader);
    eb.start();
    const oldWriter = new FencedTaskWriter(a.tasks, ea.lease);
    await oldWriter.fence();
    await oldWriter.put('A.t1', { id: 't1' });
    // Takeover: A hands the lease over (as a leader that stops does); B claims term 2 at once.
    await ea.stop();
    await until('B leads', () => eb.isLeader);
    expect(eb.lease.term).toBe(ea.lease.term + 1);
    const newWriter = new FencedTaskWriter(b.tasks, eb.lease);
    await newWriter.fence();
    // A's in-flight write, issued after B's fence, is refused by the stream itself.
    await expect(oldWriter.put('A.t2', { id: 't2' })).rejects.toBeInstanceOf(FencedError);
    await expect(oldWriter.delete('A.t1')).rejects.toBeInstanceOf(FencedError);
    // A cannot re-fence with its old term either.
    await expect(oldWriter.fence()).rejects.toThrow(/fenced by B at term 2/);
    await newWriter.put('B.t3', { id: 't3' });
    const keys = [...(await readAll(b.tasks, ANY)).keys()].sort();
    expect(keys).toEqual(['A.t1', 'B.t3', FENCE_KEY]);
    expect(changes).toEqual(['A:true', 'A:false', 'B:true']);
    await eb.stop();
    // Clean the bucket for the next test.
    for (const k of keys) await b.tasks.purge(k);
  });

  it('a leader whose terms restarted (lease deleted by hand) raises its term past the fence', async () => {
    await a.tasks.put(FENCE_KEY, encode({ nodeId: 'old', term: 41 }));
    await a.control.purge('leader');
    const e = new LeaderElection(a.control, { nodeId: 'C', log, onChange: () => undefined });
    cleanups.push(() => e.stop());
    e.start();
    await until('C leads', () => e.isLeader);
    expect(e.lease.term).toBeLessThan(41);
    const err = await new FencedTaskWriter(a.tasks, e.lease).fence().then(() => undefined, (x: unknown) => x);
    expect(err).toBeInstanceOf(FencedError);
    e.fenced((err as FencedError).fenceTerm);
    await until('C leads with term 42', () => e.isLeader && e.lease.term === 42);
    await new FencedTaskWriter(a.tasks, e.lease).fence();
    await e.stop();
    await a.tasks.purge(FENCE_KEY);
  });

  it('two schedulers: once the new leader fences, the old scheduler is refused and told so', async () => {
    const mirrorsA = startClusterMirrors(a, log);
    const mirrorsB = startClusterMirrors(b, log);
    cleanups.push(() => [...allMirrors(mirrorsA), ...allMirrors(mirrorsB)].forEach((m) => m.stop()));
    await Promise.all([...allMirrors(mirrorsA), ...allMirrors(mirrorsB)].map((m) => m.ready));
    await a.nodes.put('n1', encode(node('n1')));
    await a.services.put('svc1', encode(service('svc1', 2)));
    const fencedA: FencedError[] = [];
    const schedA = makeScheduler(a, mirrorsA, (e) => fencedA.push(e));
    const schedB = makeScheduler(b, mirrorsB, () => undefined);
    cleanups.push(() => schedA.stop(), () => schedB.stop());
    await schedA.start({ nodeId: 'A', term: 10 });
    await until('A schedules 2 tasks', () => mirrorsA.tasks.size === 2);
    expect(mirrorsA.tasks.values().every((t) => t.term === 10)).toBe(true);
    // B takes term 11 and fences (its scheduler not yet running, so only A plans the scale).
    await new FencedTaskWriter(b.tasks, { nodeId: 'B', term: 11 }).fence();
    // A still believes it leads; its writes for the scale are refused.
    await a.services.put('svc1', encode(service('svc1', 5)));
    await until('A is refused', () => fencedA.length > 0);
    expect(mirrorsA.tasks.size).toBe(2);
    await schedB.start({ nodeId: 'B', term: 11 });
    await until('5 tasks', () => mirrorsB.tasks.size === 5);
    const tasks = [...(await readAll(b.tasks, RECORDS.tasks, { filter: '*.*' })).values()].map((e) => e.value);
    expect(tasks.length).toBe(5);
    expect(tasks.filter((t) => t.term === 11).length).toBe(3);
    expect(new Set(tasks.map((t) => t.slot))).toEqual(new Set([1, 2, 3, 4, 5]));
    expect(fencedA[0]?.message).toMatch(/refused|fenced/);
  });
});

function makeScheduler(buckets: Buckets, mirrors: ClusterMirrors, onFenced: (e: FencedError) => void): Scheduler {
  return new Scheduler({ buckets, allocator: new Allocator(buckets.alloc), mirrors, log, onFenced });
}
