/**
 * Node operations on a 3-node dev cluster (node-1 manager, node-2 and node-3 workers) with a
 * 4-replica web service published on 8080: `node update --availability pause|drain|active`
 * (pause keeps tasks and takes no new ones; drain moves them away under request loops through
 * the routing mesh, with no failed request), and `node rm` (refusals; a crashed worker removed:
 * gone from `node ls`, its tasks placed again, its credentials refused, and a restart with them
 * refused once and clearly; a live worker removed with --force: its connection ends).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DevCluster, slowdown, waitFor, type TaskRow } from '../helpers/dev.js';
import { activeBackends } from '../helpers/lb-state.js';

const HELPERS = resolve(import.meta.dirname, '..', 'helpers');
const NODES = ['node-1', 'node-2', 'node-3'];
const ADDR = (node: string) => `172.30.0.${10 + Number(node.slice(5))}`;
const HTTP = `["node", "-e", "require('http').createServer((q, s) => s.end(process.env.MESH_TASK_NAME + '\\\\n')).listen(80)"]`;
const STACK = `services:
  web:
    command: ${HTTP}
    deploy: { replicas: 4 }
    ports: ["8080:80"]
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
interface NodeRow {
  ID: string;
  Hostname: string;
  Status: string;
  Availability: string;
}

describe('node operations (3 nodes, 1 manager)', () => {
  let c: DevCluster;
  let dir: string;
  let underlay: string;

  const running = async () => (await c.list<TaskRow>(['service', 'ps', 'nd_web'])).filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'));
  const ingressAddrs = (tasks: TaskRow[]) => tasks.map((t) => t.Addresses.find((a) => a.Network === 'ingress')!.Addr.split('/')[0]!).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const sbox = (node: string) => join(c.nodeDir(node), 'run', 'netns', 'ingress_sbox');
  const everyLbIs = async (nodes: string[], want: string[]) => {
    for (const n of nodes) if ((await activeBackends(sbox(n), 'tcp 8080')).join() !== want.join()) return false;
    return true;
  };
  const nodeRow = async (host: string) => (await c.list<NodeRow>(['node', 'ls'])).find((n) => n.Hostname === host);
  const nodeId = async (host: string) => (JSON.parse(await c.ok(['node', 'inspect', host])) as { ID: string }[])[0]!.ID;
  /** A request every 20 ms (issue 14's measurement) through the routing mesh at `node`, from the underlay. */
  const loop = (node: string, durationMs: number): Promise<Req[]> =>
    execa('nsenter', [`--net=${underlay}`, process.execPath, join(HELPERS, 'request-loop.mjs'), `http://${ADDR(node)}:8080/`, String(durationMs), '20', '1000'], { timeout: durationMs + 60_000 }).then((r) => JSON.parse(String(r.stdout)) as Req[]);
  const credsOf = async (host: string, file: string) => JSON.parse(await readFile(join(c.nodeDir(host), 'state', file), 'utf8')) as { user: string; password: string };
  /** NATS operations as a user (test/helpers/nats-probe.mjs): `{ connect: error }` when the connection is refused. */
  const natsProbe = async (creds: { user: string; password: string }, ops: string[][]) =>
    JSON.parse(String((await execa('nsenter', [`--net=${underlay}`, process.execPath, join(HELPERS, 'nats-probe.mjs'), JSON.stringify({ servers: [`nats://${ADDR('node-1')}:4222`], user: creds.user, pass: creds.password, ops })])).stdout)) as { connect?: string; results?: unknown[] };
  const adminKeys = async (bucket: string) => ((await natsProbe(await credsOf('node-1', 'admin.creds'), [['keys', bucket]])).results![0] as string[]);
  const meshdExited = async (host: string) => {
    const pid = Number(await readFile(join(c.nodeDir(host), 'meshd.pid'), 'utf8'));
    return execa('kill', ['-0', String(pid)], { reject: false }).then((r) => r.exitCode !== 0);
  };
  /** 4 replicas running, none on `away`, and every listed node's LB balancing exactly them. */
  const settled = (lbNodes: string[], away: string[] = [], replicas = 4) => async () => {
    const web = await running();
    if (web.length !== replicas || web.some((t) => away.includes(t.Node))) return undefined;
    return (await everyLbIs(lbNodes, ingressAddrs(web))) ? web : undefined;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-nodes-'));
    await writeFile(join(dir, 'nd.yml'), STACK);
    c = await DevCluster.up({ nodes: 3, managers: 1 });
    underlay = join(c.dir, 'netns', 'underlay');
    await c.ok(['stack', 'deploy', '-c', join(dir, 'nd.yml'), 'nd'], { timeoutMs: 180_000 });
    await waitFor('4 replicas in every LB, on every node', async () => {
      const web = await settled(NODES)();
      return web && NODES.every((n) => web.some((t) => t.Node === n)) ? true : undefined;
    }, slowdown(60_000), 250);
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a bad --availability, naming the flag', async () => {
    const res = await c.meshctl(['node', 'update', '--availability', 'drained', 'node-2']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('--availability: must be active, pause or drain, not "drained"');
  });

  it('pause: the node keeps its tasks and takes no new one on scale-up', async () => {
    const before = (await running()).filter((t) => t.Node === 'node-3').map((t) => t.ID).sort();
    expect(before.length).toBeGreaterThan(0);
    await c.ok(['node', 'update', '--availability', 'pause', 'node-3']);
    expect((await nodeRow('node-3'))?.Availability).toBe('Pause');
    expect((JSON.parse(await c.ok(['node', 'inspect', 'node-3'])) as { Spec: { Availability: string } }[])[0]!.Spec.Availability).toBe('pause');
    await c.ok(['service', 'scale', 'nd_web=7']);
    const web = await waitFor('7 replicas running', async () => {
      const w = await running();
      return w.length === 7 ? w : undefined;
    }, slowdown(30_000), 250);
    expect(web.filter((t) => t.Node === 'node-3').map((t) => t.ID).sort()).toEqual(before);
    await c.ok(['service', 'scale', 'nd_web=4']);
    await c.ok(['node', 'update', '--availability', 'active', 'node-3']);
    expect((await nodeRow('node-3'))?.Availability).toBe('Active');
    await waitFor('back to 4 replicas in every LB', settled(NODES), slowdown(30_000), 250);
  });

  it('drain: the tasks move off the node with no failed request through the routing mesh, and it comes back active', async () => {
    const web = await running();
    const target = ['node-2', 'node-3'].map((n) => ({ n, count: web.filter((t) => t.Node === n).length })).sort((a, b) => b.count - a.count)[0]!.n;
    expect(web.some((t) => t.Node === target)).toBe(true);
    const durationMs = slowdown(15_000);
    const loops = [loop('node-1', durationMs), loop(target, durationMs)];
    // A second of traffic before the drain, so the loops measure before, during and after it.
    await new Promise((r) => setTimeout(r, 1_000));
    const drainedAt = Date.now();
    await c.ok(['node', 'update', '--availability', 'drain', target]);
    expect((await nodeRow(target))?.Availability).toBe('Drain');
    await waitFor(`no replica on ${target}, 4 in every LB`, settled(NODES, [target]), slowdown(12_000), 100);
    console.log(`drain of ${target}: tasks moved and every LB updated ${Date.now() - drainedAt} ms after the command`);
    const results = await Promise.all(loops);
    for (const reqs of results) {
      expect(reqs.length).toBeGreaterThan(300);
      expect(reqs.filter((r) => !r.ok).map((r) => ({ ...r, sinceDrainMs: r.start - drainedAt }))).toEqual([]);
    }
    await c.ok(['node', 'update', '--availability', 'active', target]);
    expect((await nodeRow(target))?.Availability).toBe('Active');
  });

  it('node rm refuses a ready node without --force, and a manager', async () => {
    const ready = await c.meshctl(['node', 'rm', 'node-2']);
    expect(ready.code).toBe(1);
    expect(ready.stderr).toContain("node node-2 is not down and can't be removed; use --force");
    const manager = await c.meshctl(['node', 'rm', '--force', 'node-1']);
    expect(manager.code).toBe(1);
    expect(manager.stderr).toMatch(/node node-1 is a manager and can't be removed: it holds the cluster state/);
    expect((await c.list<NodeRow>(['node', 'ls'])).map((n) => n.Hostname).sort()).toEqual(NODES);
  });

  it('node rm of a crashed worker: gone from node ls, tasks placed again, credentials refused, a restart refused once', async () => {
    const id = await nodeId('node-3');
    const creds = await credsOf('node-3', 'node.creds');
    expect((await natsProbe(creds, [])).connect).toBeUndefined();
    await c.ok(['dev', 'crash', 'node-3']);
    await waitFor('node-3 Down', async () => ((await nodeRow('node-3'))?.Status === 'Down' ? true : undefined), slowdown(15_000), 250);
    expect((await c.ok(['node', 'rm', 'node-3'])).trim()).toBe('node-3');
    expect((await c.list<NodeRow>(['node', 'ls'])).map((n) => n.Hostname).sort()).toEqual(['node-1', 'node-2']);
    await waitFor('4 replicas on node-1 and node-2, in both LBs', settled(['node-1', 'node-2'], ['node-3']), slowdown(20_000), 250);
    expect((await natsProbe(creds, [])).connect).toMatch(/authorization violation/i);
    expect((await adminKeys('mesh_lbaddrs')).filter((k) => k.endsWith(`.${id}`))).toEqual([]);
    expect((await adminKeys('mesh_tasks')).filter((k) => k.startsWith(`${id}.`))).toEqual([]);
    // Its status keys go with status GC (two 10 s passes).
    await waitFor("node-3's status keys purged", async () => ((await adminKeys('mesh_status')).some((k) => k.startsWith(`${id}.`)) ? undefined : true), slowdown(45_000), 1_000);

    // Started again with its old credentials: refused, said once, and meshd ends.
    await c.ok(['dev', 'start', 'node-3']);
    await waitFor('node-3 meshd refused and exited', async () => ((await meshdExited('node-3')) ? true : undefined), slowdown(40_000), 500);
    // What this start logged (after the marker `meshctl dev start` writes): a few retries, then the refusal.
    const log = await c.meshdLog('node-3');
    const since = log.slice(log.lastIndexOf('--- meshctl dev: starting node-3')).split('\n');
    expect(since.filter((l) => /the cluster refuses this node's credentials .*node rm/.test(l))).toHaveLength(1);
    expect(since.filter((l) => / (WARN|ERROR) /.test(l)).length).toBeLessThanOrEqual(6);
    expect((await c.list<NodeRow>(['node', 'ls'])).map((n) => n.Hostname).sort()).toEqual(['node-1', 'node-2']);
  });

  it('node rm --force of a live worker: its connection ends, meshd says why and stops, its tasks move', async () => {
    const creds = await credsOf('node-2', 'node.creds');
    const removedAt = Date.now();
    expect((await c.ok(['node', 'rm', '--force', 'node-2'])).trim()).toBe('node-2');
    expect((await c.list<NodeRow>(['node', 'ls'])).map((n) => n.Hostname)).toEqual(['node-1']);
    await waitFor('node-2 meshd stopped', async () => ((await meshdExited('node-2')) ? true : undefined), slowdown(15_000), 250);
    const lines = await c.logSince(['node-2'], removedAt, /ERROR/);
    expect(lines.some((l) => /the cluster revoked this node's credentials/.test(l))).toBe(true);
    expect((await natsProbe(creds, [])).connect).toMatch(/authorization violation/i);
    await waitFor('4 replicas on node-1, in its LB', settled(['node-1'], ['node-2', 'node-3']), slowdown(20_000), 250);
    expect((await c.list<NodeRow>(['node', 'ls'])).map((n) => n.Hostname)).toEqual(['node-1']);
  });
});
