import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { resolve } from 'node:path';
import type { NatsConnection } from 'nats';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { openBuckets, type Buckets } from '../../core/state/buckets.js';
import { KvMirror } from '../../core/state/mirror.js';
import { RECORDS } from '../../core/wire/records.js';
import { NodeRegistry, type NodeAnnouncement } from '../../manager/node-registry.js';
import { StatusGc } from '../../manager/status-gc.js';
import { request } from '../../core/rpc.js';
import { encode } from '../../core/state/codec.js';
import { SUBJECTS } from '../../core/names.js';
import type { Logger } from '../../core/log.js';
import type { NodeRecord, TaskStatus } from '../../core/model.js';

const FLOOD = resolve(import.meta.dirname, '..', 'helpers', 'flood.mjs');

function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (m, f) => void lines.push(`${m} ${JSON.stringify(f, (_k, v) => (v instanceof Error ? v.message : v))}`),
    error: (m, f) => void lines.push(`${m} ${JSON.stringify(f)}`),
    child: () => log,
  };
  return { log, lines };
}

const announce = (id: string, hostname: string): NodeAnnouncement => ({ id, hostname, role: 'worker', runsTasks: true, addr: '172.30.0.20', labels: {} });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('wire input from cluster members (real nats-server)', () => {
  let nats: TestNats;
  let mgr: NatsConnection;
  let member: NatsConnection;
  let buckets: Buckets;
  let nodes: KvMirror<NodeRecord>;
  let registry: NodeRegistry;
  const captured = captureLog();
  const flooders: ResultPromise[] = [];
  const A = 'flooder00000000000000000a';
  const B = 'quiet0000000000000000000b';

  beforeAll(async () => {
    nats = await startTestNats();
    mgr = await nats.connect();
    member = await nats.connect();
    buckets = await openBuckets(mgr, { create: { replicas: 1 } });
    nodes = new KvMirror(buckets.nodes, { name: 'nodes', log: captured.log, kind: RECORDS.nodes }).start();
    await nodes.ready;
    registry = new NodeRegistry({ nc: mgr, buckets, nodes, log: captured.log, isLeader: () => true });
    registry.serveRegistration('managers');
    registry.start();
    registry.becameLeader();
  });

  afterAll(async () => {
    for (const f of flooders) f.kill('SIGKILL');
    await Promise.allSettled(flooders);
    registry?.stop();
    nodes?.stop();
    await nats?.stop();
  });

  it('refuses a bad registration with an error naming the field, another node id, and a flood of them', async () => {
    await expect(request(member, SUBJECTS.register(A), { ...announce(A, 'a'), hostname: 5 }, 5_000)).rejects.toThrow(/hostname/);
    await expect(request(member, SUBJECTS.register(A), announce(B, 'b'), 5_000)).rejects.toThrow(/another node id/);
    await expect(request(member, SUBJECTS.register(A), 'not json{', 5_000)).rejects.toThrow(/register: /);
    await request(member, SUBJECTS.register(A), announce(A, 'node-a'), 5_000);
    await request(member, SUBJECTS.register(B), announce(B, 'node-b'), 5_000);
    // The limit is per sender: A's burst runs out, B is unaffected.
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => request(member, SUBJECTS.register(A), announce(A, 'node-a'), 2_000)));
    expect(results.filter((r) => r.status === 'rejected').length).toBeGreaterThan(0);
    await request(member, SUBJECTS.register(B), announce(B, 'node-b'), 5_000);
    await expect.poll(() => [nodes.get(A)?.status, nodes.get(B)?.status], { timeout: 5_000 }).toEqual(['ready', 'ready']);
  });

  it('decides a quiet node live, then down, on time while another floods heartbeats and registrations', async () => {
    const beat = setInterval(() => member.publish(SUBJECTS.heartbeat(B), encode(announce(B, 'node-b'))), 500);
    const junkIds = Array.from({ length: 2_000 }, (_, i) => SUBJECTS.heartbeat(`fake${i}`));
    flooders.push(
      execa(process.execPath, [FLOOD, JSON.stringify({ servers: nats.url, subjects: [SUBJECTS.heartbeat(A), SUBJECTS.heartbeat(A), SUBJECTS.register(A), ...junkIds.slice(0, 7)], payloads: [JSON.stringify(announce(A, 'node-a')), 'not json{', '{"id":' + '['.repeat(10_000)], seconds: 9 })]),
      execa(process.execPath, [FLOOD, JSON.stringify({ servers: nats.url, subjects: junkIds, payloads: ['{}'], seconds: 9 })]),
    );
    let falseDown = 0;
    const off = nodes.onChange((c) => {
      if (c.key === B && c.value?.status === 'down') falseDown++;
    });
    await sleep(4_000);
    off();
    expect(falseDown).toBe(0);
    expect(nodes.get(A)?.status).toBe('ready'); // its valid beats still count, within its rate

    clearInterval(beat);
    const stoppedAt = performance.now();
    const downAfter = await new Promise<number>((done) => {
      const stop = nodes.onChange((c) => {
        if (c.key === B && c.value?.status === 'down') {
          stop();
          done(performance.now() - stoppedAt);
        }
      });
    });
    const sent = (await Promise.all(flooders.splice(0))).map((r) => JSON.parse(String(r.stdout)).sent as number);
    console.log(`flood: ${sent.join(' + ')} messages in 9 s; quiet node marked down ${Math.round(downAfter)} ms after its last beat`);
    // The bound for detecting a dead node (down after 2 s of silence, checked every 100 ms).
    expect(downAfter).toBeLessThan(3_000);
    expect(sent.reduce((a, b) => a + b, 0)).toBeGreaterThan(20_000);
    // Only the two real nodes have state; 2,000 made-up senders left nothing behind.
    expect(registry.trackedSenders).toBeLessThanOrEqual(2);
    expect(captured.lines.some((l) => l.includes('dropped bad input') && l.includes(A))).toBe(true);
  });

  it('a mirror skips a bad record, keeps the good ones, and does not re-watch', async () => {
    const { log, lines } = captureLog();
    const status = new KvMirror(buckets.status, { name: 'status', log, kind: RECORDS.status }).start();
    await status.ready;
    const good: TaskStatus = { taskId: 't1', nodeId: A, state: 'running', message: '', restarts: 0, updatedAt: new Date().toISOString() };
    await buckets.status.put(`${A}.t1`, encode(good));
    await buckets.status.put(`${A}.t2`, new TextEncoder().encode('not json{'));
    await buckets.status.put(`${A}.t3`, encode({ ...good, taskId: 't3', nodeId: B })); // passes itself off as B's
    await buckets.status.put(`${A}.t1`, encode({ ...good, restarts: -1 })); // a good key turned bad: absent
    await buckets.status.put(`${A}.t4`, encode({ ...good, taskId: 't4' }));
    await expect.poll(() => status.keys().sort(), { timeout: 5_000 }).toEqual([`${A}.t4`]);
    await sleep(3_500); // two stall checks
    expect(lines.filter((l) => /re-establishing|restarting/.test(l))).toEqual([]);
    // Three bad records from one writer in one bucket: one line (once per sender and bucket a minute).
    const dropped = lines.filter((l) => l.includes('dropped bad input'));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toContain(`mesh_status/${A}.t2`);
    status.stop();
  });

  it('the leader purges status keys that name no task of that node', async () => {
    const gc = new StatusGc({ status: buckets.status, taskKeys: () => new Set([`${A}.t4`]), log: captured.log });
    expect(await gc.pass()).toBe(0); // first sighting: suspects only
    const purged = await gc.pass();
    expect(purged).toBeGreaterThanOrEqual(2); // t2, t3 (t1's value is bad but live too)
    const live = [];
    for (const k of [`${A}.t1`, `${A}.t2`, `${A}.t3`, `${A}.t4`]) if ((await buckets.status.get(k))?.operation === 'PUT') live.push(k);
    expect(live).toEqual([`${A}.t4`]);
    expect(await gc.pass()).toBe(0);
  });
});
