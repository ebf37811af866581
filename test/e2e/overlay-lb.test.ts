import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCluster, slowdown, testLbBackend, waitFor, type TaskRow } from '../helpers/dev.js';
import { activeBackends, allActiveBackends, wipeLb } from '../helpers/lb-state.js';

const HTTP = `["node", "-e", "require('http').createServer((q, s) => s.end(process.env.MESH_TASK_NAME + '\\\\n')).listen(8080)"]`;

const STACK = `services:
  web:
    command: ${HTTP}
    deploy: { replicas: 3, restart_policy: { condition: any, delay: 3s } }
    networks: [front]
  client:
    command: ["sleep", "100000"]
    deploy: { placement: { constraints: ["node.hostname == node-1"] } }
    networks: [front]
  other:
    command: ${HTTP}
    networks: [back]
  rr:
    command: ${HTTP}
    deploy: { replicas: 2, endpoint_mode: dnsrr }
    networks: [front]
  checked:
    command: ${HTTP}
    environment: { SICK_DIR: "__SICK__" }
    deploy: { replicas: 2 }
    healthcheck:
      test: ["CMD-SHELL", "test ! -e $SICK_DIR/$HOSTNAME"]
      interval: ${slowdown(300)}ms
      timeout: ${slowdown(1_000)}ms
      retries: 1
    networks: [front]
  walled:
    command: ["sleep", "100000"]
    deploy: { placement: { constraints: ["node.hostname == node-1"] } }
    networks: [sealed]
networks:
  front: {}
  back: {}
  sealed: { internal: true }
`;

/** East-west: overlays across nodes and the VIP load balancer (nftables here, IPVS in the VM lane). */
describe(`overlays and VIP load balancing on a 3-node dev cluster (${testLbBackend()})`, () => {
  let c: DevCluster;
  let dir: string;
  let netIds: Record<string, string>;
  let vip: (svc: string, net: string) => Promise<string>;

  const running = async (svc: string) => (await c.list<TaskRow>(['service', 'ps', svc])).filter((t) => t.DesiredState === 'Running');
  const fromClient = (script: string) => c.ok(['task', 'exec', 'mesh_client.1', '--', 'sh', '-c', script], { timeoutMs: 120_000 });
  const lbNetns = (node: string, net: string) => join(c.nodeDir(node), 'run', 'netns', `lb_${netIds[net]}`);
  /** Replicas taking new connections in one node's lb_ namespace for the network, read from the kernel. */
  const lbBackends = async (node: string, net: string): Promise<string[]> => allActiveBackends(lbNetns(node, net));
  /** The web service's replicas taking new connections in a node's LB. */
  const webBackends = async (node: string): Promise<string[]> => activeBackends(lbNetns(node, 'mesh_front'), `vip ${await vip('mesh_web', 'mesh_front')}`);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-stacks-'));
    await writeFile(join(dir, 'mesh.yml'), STACK.replace('__SICK__', dir));
    c = await DevCluster.up({ nodes: 3, managers: 1 });
    await c.ok(['stack', 'deploy', '-c', join(dir, 'mesh.yml'), 'mesh'], { timeoutMs: 120_000 });
    netIds = Object.fromEntries((await c.list<{ ID: string; Name: string }>(['network', 'ls'])).map((n) => [n.Name, n.ID]));
    vip = async (svc, net) => {
      const [s] = JSON.parse(await c.ok(['service', 'inspect', svc])) as { Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] } }[];
      return s!.Endpoint.VirtualIPs.find((v) => v.NetworkID.startsWith(netIds[net]!))!.Addr.split('/')[0]!;
    };
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('spreads 30 requests to a VIP over all 3 replicas, the remote ones included', async () => {
    const web = await running('mesh_web');
    expect(new Set(web.map((t) => t.Node))).toEqual(new Set(['node-1', 'node-2', 'node-3']));
    const v = await vip('mesh_web', 'mesh_front');
    // Deploy returns once the tasks run; the client node's LB may still be adding the last replica.
    await waitFor('3 web backends in node-1\'s LB', async () => ((await webBackends('node-1')).length === 3 ? true : undefined), slowdown(15_000));
    const out = await fromClient(`for i in $(seq 30); do curl -s --max-time 2 http://${v}:8080/; done`);
    const answers = out.trim().split('\n');
    expect(answers).toHaveLength(30);
    expect(new Set(answers)).toEqual(new Set(['mesh_web.1', 'mesh_web.2', 'mesh_web.3']));
  });

  it('reaches every replica directly by its overlay address across nodes', async () => {
    for (const t of await running('mesh_web')) {
      const addr = t.Addresses.find((a) => a.Network === 'mesh_front')!.Addr.split('/')[0];
      expect((await fromClient(`curl -s --max-time 2 http://${addr}:8080/`)).trim()).toBe(t.Name);
    }
  });

  it('isolates overlays: nothing only on another network is reachable', async () => {
    const [other] = await running('mesh_other');
    const addr = other!.Addresses.find((a) => a.Network === 'mesh_back')!.Addr.split('/')[0];
    const otherVip = await vip('mesh_other', 'mesh_back');
    for (const target of [addr, otherVip]) {
      const res = await c.meshctl(['task', 'exec', 'mesh_client.1', '--', 'curl', '-s', '--max-time', '1', `http://${target}:8080/`]);
      expect(res.code).not.toBe(0);
      expect(res.stdout).toBe('');
    }
  });

  it('lets tasks out through the node (masqueraded), except on internal networks', async () => {
    const underlay = join(c.dir, 'netns', 'underlay');
    const server = execa('nsenter', [`--net=${underlay}`, process.execPath, '-e', "require('http').createServer((q, s) => s.end(q.socket.remoteAddress + '\\n')).listen(18080, '172.30.0.1')"]);
    try {
      const seen = await waitFor('outbound request answered', async () => {
        const res = await c.meshctl(['task', 'exec', 'mesh_client.1', '--', 'curl', '-s', '--max-time', '2', 'http://172.30.0.1:18080/']);
        return res.code === 0 ? res.stdout.trim() : undefined;
      }, slowdown(15_000), 300);
      expect(seen).toBe('172.30.0.11');
      const walled = await c.meshctl(['task', 'exec', 'mesh_walled.1', '--', 'curl', '-s', '--max-time', '1', 'http://172.30.0.1:18080/']);
      expect(walled.code).not.toBe(0);
      expect(walled.stdout).toBe('');
    } finally {
      server.kill('SIGKILL');
      await server.catch(() => undefined);
    }
  });

  it('gives dnsrr services no VIP and no load-balancer entries', async () => {
    const [rr] = JSON.parse(await c.ok(['service', 'inspect', 'mesh_rr'])) as { Endpoint: { VirtualIPs: unknown[] } }[];
    expect(rr!.Endpoint.VirtualIPs).toEqual([]);
    const rrAddrs = (await running('mesh_rr')).map((t) => t.Addresses[0]!.Addr.split('/')[0]!);
    for (const node of ['node-1', 'node-2', 'node-3']) {
      const backends = await lbBackends(node, 'mesh_front');
      for (const a of rrAddrs) expect(backends).not.toContain(a);
    }
  });

  // Each step takes 2-6 s here; its bound is 30 s, and the test's limit fits all three, so a step
  // that does not converge fails with what it last saw and the nodes' logs. Not retried. CI saw it
  // stall past 60 s once in ~10 suite runs (never alone). The likely cause, while starting seven
  // replicas on a machine loaded by the rest of the suite: a live node called down (heartbeats
  // came from the busy main event loop; the leader also judged right after its own stalls), so its
  // replicas were removed and re-placed mid-step; and mirrors restarting a busy watch as if it had
  // stalled. Both are fixed (manager/liveness.ts, the heartbeat thread, KvMirror.checkLiveness),
  // and the test now names them: a node Down during the steps fails it outright.
  it("keeps every node's LB equal to the running replicas while scaling 3 -> 10 -> 2", { timeout: slowdown(3 * 30_000 + 15_000) }, async () => {
    const start = Date.now();
    for (const n of [10, 2, 3]) {
      await c.ok(['service', 'scale', `mesh_web=${n}`]);
      let seen: unknown;
      try {
        await waitFor(`${n} replicas in every LB`, async () => {
          const web = await running('mesh_web');
          const lbs: Record<string, string[]> = {};
          seen = { tasks: web.map((t) => `${t.Name}@${t.Node}: ${t.CurrentState}`), lbs };
          if (web.length !== n || !web.every((t) => t.CurrentState.startsWith('Running'))) return undefined;
          // Sorted as activeBackends sorts (numerically): a plain sort puts 10.0.0.10 before 10.0.0.7.
          const want = web.map((t) => t.Addresses[0]!.Addr.split('/')[0]!).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
          for (const node of ['node-1', 'node-2', 'node-3']) {
            lbs[node] = await webBackends(node);
            if (lbs[node]!.join() !== want.join()) return undefined;
          }
          return true;
        }, slowdown(30_000), 500);
      } catch (err) {
        const events = await c.logSince(['node-1', 'node-2', 'node-3'], start, /node down|node ready|node suspect|liveness check was starved|kv watch stalled/);
        const report = `${(err as Error).message}\nlast seen: ${JSON.stringify(seen, null, 1)}\nliveness and mirror events:\n${events.join('\n')}\n${await c.logTails(40)}`;
        console.log(`scale step to ${n} did not converge: ${report}`);
        throw new Error(report);
      }
    }
    // No live node was called down while it started and stopped replicas.
    expect(await c.logSince(['node-1'], start, /INFO node (down|ready) /)).toEqual([]);
  });

  it(`takes a replica killed by hand out of every node's LB within ${slowdown(1)} s of its exit`, async () => {
    const web = await running('mesh_web');
    const victim = web.find((t) => t.Node === 'node-2')!;
    const ip = victim.Addresses[0]!.Addr.split('/')[0]!;
    const pid = await c.taskPid('node-2', victim.ID);
    for (const node of ['node-1', 'node-2', 'node-3']) expect(await lbBackends(node, 'mesh_front')).toContain(ip);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitFor('replica out of every LB', async () => {
      for (const node of ['node-1', 'node-2', 'node-3']) if ((await lbBackends(node, 'mesh_front')).includes(ip)) return undefined;
      return true;
    }, slowdown(5_000), 50);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(slowdown(1_000));
    // Restarted after its 3 s delay, it is back in every LB.
    await waitFor('replica back in every LB', async () => {
      for (const node of ['node-1', 'node-2', 'node-3']) if (!(await lbBackends(node, 'mesh_front')).includes(ip)) return undefined;
      return true;
    }, slowdown(20_000), 200);
  });

  it('sends nothing to an unhealthy replica, and takes it back when healthy', async () => {
    const v = await vip('mesh_checked', 'mesh_front');
    const tasks = await waitFor('both replicas healthy', async () => {
      const rows = await running('mesh_checked');
      return rows.length === 2 && rows.every((t) => t.Health === 'healthy') ? rows : undefined;
    });
    const sick = tasks.find((t) => t.Name === 'mesh_checked.1')!;
    const ip = sick.Addresses[0]!.Addr.split('/')[0]!;
    await writeFile(join(dir, 'mesh_checked.1'), '');
    await waitFor('unhealthy replica out of every LB', async () => {
      for (const node of ['node-1', 'node-2', 'node-3']) if ((await lbBackends(node, 'mesh_front')).includes(ip)) return undefined;
      return true;
    }, slowdown(15_000), 100);
    expect((await running('mesh_checked')).find((t) => t.Name === 'mesh_checked.1')!.Health).toBe('unhealthy');
    const answers = (await fromClient(`for i in $(seq 10); do curl -s --max-time 2 http://${v}:8080/; done`)).trim().split('\n');
    expect(new Set(answers)).toEqual(new Set(['mesh_checked.2']));
    await rm(join(dir, 'mesh_checked.1'));
    await waitFor('healthy again and back in every LB', async () => {
      for (const node of ['node-1', 'node-2', 'node-3']) if (!(await lbBackends(node, 'mesh_front')).includes(ip)) return undefined;
      return true;
    }, slowdown(15_000), 100);
  });

  it('restores hand-deleted LB rules at the next resync', async () => {
    await wipeLb(lbNetns('node-3', 'mesh_front'));
    expect(await lbBackends('node-3', 'mesh_front')).toEqual([]);
    await waitFor('rules restored', async () => ((await lbBackends('node-3', 'mesh_front')).length > 0 ? true : undefined), slowdown(15_000), 250);
  });

  it('serves every request while meshd on a worker restarts', async () => {
    const v = await vip('mesh_web', 'mesh_front');
    const loop = fromClient(`ok=0; bad=0; for i in $(seq 60); do if curl -s --max-time ${slowdown(2_000) / 1000} -o /dev/null http://${v}:8080/; then ok=$((ok+1)); else bad=$((bad+1)); fi; sleep 0.05; done; echo "$ok $bad"`);
    await new Promise((r) => setTimeout(r, 500));
    await c.ok(['dev', 'stop', 'node-2']);
    await c.ok(['dev', 'start', 'node-2']);
    const [ok, bad] = (await loop).trim().split(' ').map(Number);
    expect(bad).toBe(0);
    expect(ok).toBe(60);
  });
});
