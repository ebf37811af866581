/**
 * Fault drills on a 5-node dev cluster (3 managers, 2 workers) under a steady request loop
 * through a published port: a worker's meshd killed -9 and restarted, NATS cut off from a worker
 * for 20 s, a worker node crashing (power failure), the manager whose NATS server leads killed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DevCluster, slowdown, waitFor, type TaskRow } from '../helpers/dev.js';
import { activeBackends } from '../helpers/lb-state.js';

const HELPERS = resolve(import.meta.dirname, '..', 'helpers');
const NODES = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'];
const ADDR = (node: string) => `172.30.0.${10 + Number(node.slice(5))}`;
const HTTP = `["node", "-e", "require('http').createServer((q, s) => s.end(process.env.MESH_TASK_NAME + '\\\\n')).listen(80)"]`;
const STACK = `services:
  web:
    command: ${HTTP}
    deploy: { replicas: 5 }
    ports: ["8080:80"]
    networks: [front]
  client:
    command: ["sleep", "100000"]
    deploy: { placement: { constraints: ["node.hostname == node-1"] } }
    networks: [front]
networks:
  front: {}
`;

interface Req {
  start: number;
  ms: number;
  ok: boolean;
  error?: string;
}

describe('fault drills under a steady request loop (5 nodes, 3 managers)', () => {
  let c: DevCluster;
  let dir: string;
  let underlay: string;

  /** Starts a request loop from the underlay; await the result for every request it made. */
  const loop = (node: string, durationMs: number): { done: Promise<Req[]>; proc: ResultPromise } => {
    const proc = execa('nsenter', [`--net=${underlay}`, process.execPath, join(HELPERS, 'request-loop.mjs'), `http://${ADDR(node)}:8080/`, String(durationMs), '50', '1000'], { timeout: durationMs + 60_000 });
    return { proc, done: proc.then((r) => JSON.parse(String(r.stdout)) as Req[]) };
  };
  const running = async () => (await c.list<TaskRow>(['service', 'ps', 'drill_web'])).filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'));
  const ingressAddrs = (tasks: TaskRow[]) => tasks.map((t) => t.Addresses.find((a) => a.Network === 'ingress')!.Addr.split('/')[0]!);
  const frontAddrs = (tasks: TaskRow[]) => tasks.map((t) => t.Addresses.find((a) => a.Network === 'drill_front')!.Addr.split('/')[0]!);
  const sbox = (node: string) => join(c.nodeDir(node), 'run', 'netns', 'ingress_sbox');
  /**
   * A resolver that asks the embedded DNS as the client task does: from its namespace, to its
   * nameserver. Both are looked up once (a meshctl call takes about a second), so that polling
   * it costs one dig.
   */
  const digger = async () => {
    const [client] = await c.list<TaskRow>(['service', 'ps', 'drill_client']);
    const tasksDir = join(c.nodeDir('node-1'), 'run', 'tasks');
    const id = (await readdir(tasksDir)).find((d) => d.startsWith(client!.ID))!;
    const ns = /nameserver (\S+)/.exec(await readFile(join(tasksDir, id, 'resolv.conf'), 'utf8'))![1]!;
    const netns = join(c.nodeDir('node-1'), 'run', 'netns', `t_${id.slice(0, 12)}`);
    return async (name: string) => {
      const res = await execa('nsenter', [`--net=${netns}`, 'dig', `@${ns}`, '+short', '+tries=1', '+time=1', name]);
      return String(res.stdout).split('\n').filter(Boolean).sort();
    };
  };
  /** True when every node's ingress LB balances exactly `want` (sorted ingress addresses). */
  const everyLbIs = async (nodes: string[], want: string[]) => {
    for (const n of nodes) if ((await activeBackends(sbox(n), 'tcp 8080')).join() !== [...want].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).join()) return false;
    return true;
  };
  const admin = async () => JSON.parse(await readFile(join(c.nodeDir('node-1'), 'state', 'admin.creds'), 'utf8')) as { user: string; password: string };
  const natsProbe = async (creds: { user: string; password: string }, ops: string[][]) =>
    (JSON.parse(String((await execa('nsenter', [`--net=${underlay}`, process.execPath, join(HELPERS, 'nats-probe.mjs'), JSON.stringify({ servers: ['nats://172.30.0.11:4222', 'nats://172.30.0.12:4222', 'nats://172.30.0.13:4222'], user: creds.user, pass: creds.password, ops })])).stdout)) as { results: string[] }).results;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-drill-'));
    await writeFile(join(dir, 'drill.yml'), STACK);
    c = await DevCluster.up({ nodes: 5, managers: 3 });
    underlay = join(c.dir, 'netns', 'underlay');
    await c.ok(['stack', 'deploy', '-c', join(dir, 'drill.yml'), 'drill'], { timeoutMs: 180_000 });
    await waitFor('5 replicas in every LB, on node-4 and node-5 among others', async () => {
      const web = await running();
      if (web.length !== 5 || !web.some((t) => t.Node === 'node-4') || !web.some((t) => t.Node === 'node-5')) return undefined;
      return (await everyLbIs(NODES, ingressAddrs(web))) ? true : undefined;
    }, slowdown(60_000), 250);
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("serves every request while a worker's meshd is killed -9 and restarted, and adopts its tasks", async () => {
    const before = (await running()).filter((t) => t.Node === 'node-4');
    expect(before.length).toBeGreaterThan(0);
    const pids = await Promise.all(before.map((t) => c.taskPid('node-4', t.ID)));
    const viaWorker = loop('node-4', 6_000);
    const viaOther = loop('node-1', 6_000);
    await new Promise((r) => setTimeout(r, 1_000));
    // Killed -9 and restarted at once, as a service manager (systemd Restart=always) would.
    await c.ok(['dev', 'kill', 'node-4']);
    await c.ok(['dev', 'start', 'node-4']);
    for (const reqs of [await viaWorker.done, await viaOther.done]) {
      expect(reqs.length).toBeGreaterThan(50);
      expect(reqs.filter((r) => !r.ok)).toEqual([]);
    }
    // Same tasks, same processes: adopted, not restarted.
    await waitFor('node-4 Ready again', async () => ((await c.list<{ Hostname: string; Status: string }>(['node', 'ls'])).find((n) => n.Hostname === 'node-4')?.Status === 'Ready' ? true : undefined), slowdown(20_000), 250);
    const after = (await running()).filter((t) => t.Node === 'node-4');
    expect(after.map((t) => t.ID)).toEqual(before.map((t) => t.ID));
    expect(await Promise.all(after.map((t) => c.taskPid('node-4', t.ID)))).toEqual(pids);
    expect(await c.meshdLog('node-4')).toMatch(/adopted/i);
  });

  it('keeps serving through a worker cut off from NATS for 20 s, and catches up when it returns', async () => {
    const node4 = join(c.dir, 'netns', 'node-4');
    const nft = (script: string) => execa('nsenter', [`--net=${node4}`, 'nft', '-f', '-'], { input: script });
    const viaWorker = loop('node-4', 26_000);
    await new Promise((r) => setTimeout(r, 1_000));
    await nft('table ip drill_cut {\n chain out {\n  type filter hook output priority 0; policy accept;\n  tcp dport 4222 drop\n }\n}\n');
    try {
      // While it is cut off the cluster moves on: the managers call it down and scale the service.
      await waitFor('node-4 Down', async () => ((await c.list<{ Hostname: string; Status: string }>(['node', 'ls'])).find((n) => n.Hostname === 'node-4')?.Status === 'Down' ? true : undefined), slowdown(10_000), 250);
      await c.ok(['service', 'scale', 'drill_web=6']);
      await new Promise((r) => setTimeout(r, 20_000));
    } finally {
      await nft('delete table ip drill_cut\n');
    }
    const reqs = await viaWorker.done;
    expect(reqs.length).toBeGreaterThan(300);
    expect(reqs.filter((r) => !r.ok)).toEqual([]);
    // Back: Ready again, and its LB matches the cluster's replicas (6, its own moved elsewhere).
    await waitFor('node-4 caught up', async () => {
      const nodes = await c.list<{ Hostname: string; Status: string }>(['node', 'ls']);
      if (nodes.find((n) => n.Hostname === 'node-4')?.Status !== 'Ready') return undefined;
      const web = await running();
      return web.length === 6 && (await everyLbIs(NODES, ingressAddrs(web))) ? true : undefined;
    }, slowdown(30_000), 250);
  });

  // Measured 1.75-2.4 s here, 2.2-2.8 s with the machine at load average 25 (detection is the 2 s
  // --node-down-after after a failed direct probe; the LBs follow the DNS within ~0.1 s: they have
  // a fast lane of their own, not behind the full sync or a rescheduled replica's attach, which
  // had held them 1.5-2.7 s behind the DNS on a loaded machine). Not retried: a busy
  // machine no longer makes the leader misjudge (heartbeats from their own thread, a probe before
  // Down, no verdict right after the leader's own stall: test/e2e/liveness.test.ts), so a miss here is a bug.
  it('takes a crashed worker out of every LB and DNS within 3 s, and reschedules its replicas', async () => {
    const dig = await digger();
    const web = await running();
    const crashed = ['node-4', 'node-5'].map((n) => ({ n, count: web.filter((t) => t.Node === n).length })).sort((a, b) => b.count - a.count)[0]!.n;
    const victim = web.filter((t) => t.Node === crashed);
    expect(victim.length).toBeGreaterThan(0);
    try {
      const goneIngress = ingressAddrs(victim);
      const goneFront = frontAddrs(victim);
      const others = NODES.filter((n) => n !== crashed);
      const traffic = loop('node-1', 10_000);
      await new Promise((r) => setTimeout(r, 1_000));
      const out = await c.ok(['dev', 'crash', crashed]);
      const crashedAt = Date.parse(/^Crashed \S+ at (\S+):/.exec(out)![1]!);
      // Each node's LB and the DNS are watched side by side; each records when the dead are gone.
      const goneFrom = async (what: string, stillThere: () => Promise<boolean>) => {
        await waitFor(`${crashed}'s replicas out of ${what}`, async () => ((await stillThere()) ? undefined : true), slowdown(15_000), 50);
        return { what, ms: Date.now() - crashedAt };
      };
      const times = await Promise.all([
        ...others.map((n) => goneFrom(`${n}'s LB`, async () => (await activeBackends(sbox(n), 'tcp 8080')).some((a) => goneIngress.includes(a)))),
        goneFrom('DNS', async () => (await dig('tasks.web')).some((a) => goneFront.includes(a))),
      ]);
      const goneAfter = Math.max(...times.map((t) => t.ms));
      console.log(`crash drill (${crashed}): gone after ${times.map((t) => `${t.what} ${t.ms} ms`).join(', ')}`);
      for (const t of times) expect(t).toEqual({ what: t.what, ms: expect.toSatisfy((ms: number) => ms <= slowdown(3_000)) });
      const reqs = await traffic.done;
      // Failures only of requests in flight when the node went down, or started while its replicas
      // were still listed (the 2 s heartbeat window); none before, none after.
      const failed = reqs.filter((r) => !r.ok).map((r) => ({ ...r, sinceCrashMs: r.start - crashedAt }));
      const outsideWindow = failed.filter((r) => r.start + r.ms < crashedAt || r.start > crashedAt + goneAfter);
      // Said first in the message: a CI summary keeps only the start of a failure's line.
      expect(outsideWindow, `failed outside the crash window (gone after ${goneAfter} ms): ${JSON.stringify(outsideWindow)}`).toEqual([]);
      expect(reqs.filter((r) => r.start > crashedAt + goneAfter).every((r) => r.ok)).toBe(true);
      await waitFor('replicas rescheduled on the other nodes', async () => {
        const web = await running();
        return web.length === 6 && web.every((t) => t.Node !== crashed) ? true : undefined;
      }, slowdown(20_000), 250);
    } finally {
      await c.ok(['dev', 'start', crashed]);
      await waitFor(`${crashed} back`, async () => ((await c.list<{ Hostname: string; Status: string }>(['node', 'ls'])).find((n) => n.Hostname === crashed)?.Status === 'Ready' ? true : undefined), slowdown(30_000), 250);
    }
  });

  // Measured 0.4-0.6 s when the killed server led no stream the deploy writes, 5.8-6.2 s when it led
  // one. The bound is NATS raft's, not a margin: in nats-server's server/raft.go a follower waits
  // 4-9 s (min/maxElectionTimeoutDefault) without its leader before it campaigns, and a campaign
  // takes up to 0.8 s (maxCampaignTimeoutDefault); when the first candidate's log is behind, the
  // other survivor refuses, steps down (its timer reset by the higher term) and campaigns in a
  // second round. Two rounds = 2 x (9 + 0.8) s, plus one 2.5 s scale attempt in flight: 22 s.
  // With two survivors there is no third round (the up-to-date one wins the second).
  const RAFT_TWO_ROUNDS_MS = 2 * (9_000 + 800) + 2_500;
  // The deploy scales web up (6 -> 7), not down: a scale-down under a request loop drops the
  // requests that reach a leaving replica before every LB has let it go (its stop is not yet
  // held back until each node applied the removal: issue 14, "a replica leaves before it stops").
  // A CI run that scaled down here failed 1 request for that reason, not for the manager's death.
  it('deploys again within two NATS raft election rounds after the manager whose NATS server leads is killed, with no state lost', { timeout: 150_000 }, async () => {
    const replicas = 7;
    const creds = await admin();
    const [leader] = await natsProbe(creds, [['streamLeader', 'KV_mesh_tasks']]);
    const victim = NODES.find((n) => leader!.startsWith(`${n}-`))!;
    expect(['node-1', 'node-2', 'node-3']).toContain(victim);
    const servicesBefore = await c.list<{ Name: string; Replicas: string }>(['service', 'ls']);
    const survivor = ['node-1', 'node-2', 'node-3'].find((n) => n !== victim)!;
    const traffic = loop(survivor, 8_000);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const killedAt = Date.now();
      await c.ok(['dev', 'kill', victim]);
      let deployedAt = 0;
      await waitFor('a deploy succeeds', async () => {
        const res = await c.meshctl(['service', 'scale', `drill_web=${replicas}`], { timeoutMs: 2_500 });
        if (res.code !== 0) return undefined;
        deployedAt = Date.now();
        return true;
      }, slowdown(RAFT_TWO_ROUNDS_MS + 8_000), 100);
      console.log(`manager drill (${victim}): deploy accepted ${deployedAt - killedAt} ms after the kill`);
      const survivors = ['node-1', 'node-2', 'node-3'].filter((n) => n !== victim);
      const events = await c.logSince(survivors, killedAt, /leader|WARN|ERROR/);
      console.log(`manager drill: the surviving managers' leadership events and warnings since the kill:\n${events.slice(0, 40).join('\n')}`);
      expect(deployedAt - killedAt).toBeLessThanOrEqual(slowdown(RAFT_TWO_ROUNDS_MS));
      const servicesAfter = await c.list<{ Name: string; Replicas: string }>(['service', 'ls']);
      expect(servicesAfter.map((s) => s.Name)).toEqual(servicesBefore.map((s) => s.Name));
      await waitFor(`${replicas} replicas running`, async () => ((await running()).length === replicas ? true : undefined), slowdown(20_000), 250);
      // The request loop through a surviving manager never failed.
      expect((await traffic.done).filter((r) => !r.ok)).toEqual([]);
    } finally {
      await traffic.done.catch(() => undefined);
      await c.ok(['dev', 'start', victim]);
      await waitFor(`${victim} back`, async () => ((await c.list<{ Hostname: string; Status: string }>(['node', 'ls'])).find((n) => n.Hostname === victim)?.Status === 'Ready' ? true : undefined), slowdown(30_000), 250);
    }
  });
});
