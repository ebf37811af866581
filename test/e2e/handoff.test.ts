/**
 * A replica leaves before it stops (DESIGN.md section 11, issue 14 item 2): while two request
 * loops run (routing mesh from the underlay, VIP by name from a client task; one request every
 * 20 ms each), replicas that leave on purpose cost no request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { DevCluster, waitFor, type TaskRow } from '../helpers/dev.js';
import { describeFailures, failed, RequestLoops, type LoopRequest } from '../helpers/request-loops.js';

// GET / answers at once; GET /slow after 2.5 s (a request in flight when its replica is told to leave).
const HTTP = `["node", "-e", "require('http').createServer((q, s) => setTimeout(() => s.end(process.env.MESH_TASK_NAME + '\\\\n'), q.url === '/slow' ? 2500 : 0)).listen(8080)"]`;
const HELPERS = resolve(import.meta.dirname, '..', 'helpers');
const STACK = `services:
  web:
    command: ${HTTP}
    deploy: { replicas: 4 }
    ports: ["8080:8080"]
    networks: [front]
  client:
    command: ["sleep", "100000"]
    deploy: { placement: { constraints: ["node.hostname == node-1"] } }
    networks: [front]
networks:
  front: {}
`;


describe('a replica leaves before it stops (3 nodes, two request loops)', () => {
  let c: DevCluster;
  let dir: string;
  let loops: RequestLoops | undefined;

  const web = async () => (await c.list<TaskRow>(['service', 'ps', 'hs_web'])).filter((t) => t.DesiredState === 'Running');
  /** Slow requests through the routing mesh for 1 s, 100 ms apart, each allowed 6 s (each takes 2.5 s). */
  const slowBatch = async () => {
    const res = await execa('nsenter', [`--net=${join(c.dir, 'netns', 'underlay')}`, process.execPath, join(HELPERS, 'request-loop.mjs'), 'http://172.30.0.11:8080/slow', '1000', '100', '6000'], { timeout: 60_000 });
    return JSON.parse(String(res.stdout)) as LoopRequest[];
  };
  const startLoops = () => RequestLoops.start({ cluster: c, meshUrl: 'http://172.30.0.12:8080/', clientTask: 'hs_client.1', vipUrl: 'http://web:8080/', intervalMs: 20 });
  /** Every replica of the service running, on 3 nodes: the starting point of each case. */
  const fourRunning = () =>
    waitFor('4 web replicas running on 3 nodes', async () => {
      const tasks = await web();
      const running = tasks.filter((t) => t.CurrentState.startsWith('Running'));
      return running.length === 4 && new Set(running.map((t) => t.Node)).size === 3 ? running : undefined;
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-handoff-'));
    await writeFile(join(dir, 'hs.yml'), STACK);
    c = await DevCluster.up({ nodes: 3, managers: 1 });
    await c.ok(['stack', 'deploy', '-c', join(dir, 'hs.yml'), 'hs'], { timeoutMs: 120_000 });
  });
  afterAll(async () => {
    await loops?.dispose();
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('scales 4 -> 1 without a failed request in either loop', async () => {
    const before = await fourRunning();
    const since = Date.now();
    loops = await startLoops();
    const slow = slowBatch();
    await c.ok(['service', 'scale', 'hs_web=1']);
    // Until the three leaving replicas have been stopped (their process gone, status shut down).
    await waitFor('3 web replicas shut down', async () => {
      const all = await c.list<TaskRow>(['service', 'ps', 'hs_web']);
      const left = before.filter((t) => all.find((x) => x.ID === t.ID)?.DesiredState !== 'Running');
      return left.length === 3 && left.every((t) => !all.find((x) => x.ID === t.ID) || /^(Shutdown|Complete)/.test(all.find((x) => x.ID === t.ID)!.CurrentState)) ? left : undefined;
    });
    const tookMs = Date.now() - since;
    const report = await loops.stop();
    loops = undefined;
    // Requests in flight on a leaving replica when it was told to leave were answered too.
    const slowOnes = await slow;
    console.info(`scale 4 -> 1: 3 replicas shut down ${tookMs} ms after the scale began; mesh ${report.mesh.length} requests (${failed(report.mesh).length} failed), vip ${report.vip.length} (${failed(report.vip).length} failed), slow ${slowOnes.length} (${failed(slowOnes).length} failed)`);
    // No failed request, and every node's report was waited for, not the bound.
    const lagged = await c.logSince(['node-1', 'node-2', 'node-3'], since, /before every node applied its removal/);
    console.info((await c.logSince(['node-1', 'node-2', 'node-3'], since, /task left every load balancer|connections still open/)).join('\n'));
    expect({ mesh: describeFailures(failed(report.mesh)), vip: describeFailures(failed(report.vip)), slow: describeFailures(failed(slowOnes)), lagged }).toEqual({ mesh: [], vip: [], slow: [], lagged: [] });
    // ~20 ms apart over several seconds: both loops really ran throughout.
    expect(report.mesh.length).toBeGreaterThan(50);
    expect(report.vip.length).toBeGreaterThan(50);
    expect(slowOnes.length).toBeGreaterThanOrEqual(4);
  }, 180_000);

  /**
   * Removing the service removes its name, VIP and published port: new connections to it are
   * refused (or fail to resolve) by design. "0 failed" here means: every request that got a TCP
   * connection was answered (200), and every request started before `service rm` was issued
   * succeeded. Requests that never connected after that are counted, not failed.
   */
  it('removes the service while the loops run: every connection made is answered', async () => {
    await c.ok(['service', 'scale', 'hs_web=4']);
    await fourRunning();
    loops = await startLoops();
    const slow = slowBatch();
    const rmAt = Date.now();
    await c.ok(['service', 'rm', 'hs_web']);
    await waitFor('every web task gone', async () => ((await c.list<TaskRow>(['stack', 'ps', 'hs'])).some((t) => t.Name.startsWith('hs_web.')) ? undefined : true));
    const tookMs = Date.now() - rmAt;
    const report = await loops.stop();
    loops = undefined;
    const broken = (rs: LoopRequest[]) => rs.filter((r) => !r.ok && (r.connected || r.start < rmAt));
    const refused = (rs: LoopRequest[]) => rs.filter((r) => !r.ok && !r.connected && r.start >= rmAt).map((r) => r.code ?? r.error);
    const count = (xs: (string | undefined)[]) => JSON.stringify(Object.fromEntries([...new Set(xs)].map((x) => [x, xs.filter((y) => y === x).length])));
    console.info(`service rm: every task gone ${tookMs} ms after the rm began; mesh ${report.mesh.length} requests (never connected after rm: ${count(refused(report.mesh))}), vip ${report.vip.length} (${count(refused(report.vip))})`);
    const lagged = await c.logSince(['node-1', 'node-2', 'node-3'], rmAt, /before every node applied its removal/);
    expect({ mesh: describeFailures(broken(report.mesh)), vip: describeFailures(broken(report.vip)), slow: describeFailures(broken(await slow)), lagged }).toEqual({ mesh: [], vip: [], slow: [], lagged: [] });
    // The service really went away during the loops: later requests were refused or unresolved.
    expect(report.mesh.filter((r) => r.start >= rmAt).length).toBeGreaterThan(0);
    expect(report.mesh.at(-1)?.ok).toBe(false);
    expect(report.vip.at(-1)?.ok).toBe(false);
  }, 180_000);
});
