/**
 * The IPVS backend on a kernel that has IPVS (run only in the VM lane: `npm run test:vm`).
 * Every assertion reads the kernel: `ipvsadm -Ln` and the namespace's sysctls and iptables in
 * each node's `lb_` namespace and ingress sandbox, while real requests go through them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCluster, slowdown, testLbBackend, waitFor, type TaskRow } from '../helpers/dev.js';
import { kernelLbServices, parseIpvsadmStats, type KernelLbService } from '../helpers/lb-state.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const HTTP = `["node", "-e", "require('http').createServer((q, s) => s.end(process.env.MESH_TASK_NAME + '\\\\n')).listen(80)"]`;
const STACK = `services:
  web:
    command: ${HTTP}
    deploy: { replicas: 3, restart_policy: { condition: none } }
    ports: ["8080:80"]
    networks: [front]
  client:
    command: ["sleep", "100000"]
    deploy: { placement: { constraints: ["node.hostname == node-1"] } }
    networks: [front]
networks:
  front: {}
`;

const ipOf = (cidr: string) => cidr.split('/')[0]!;
const sortIps = (ips: string[]) => [...ips].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

describe('IPVS load balancing on a real kernel (3-node dev cluster)', () => {
  let c: DevCluster;
  let dir: string;
  let frontId: string;
  let vip: string;
  const netnsOf = (node: string, name: string) => join(c.nodeDir(node), 'run', 'netns', name);
  const lbNs = (node: string) => netnsOf(node, `lb_${frontId}`);
  const sboxNs = (node: string) => netnsOf(node, 'ingress_sbox');
  const inNs = async (netns: string, argv: string[]) => String((await execa('nsenter', [`--net=${netns}`, ...argv])).stdout);
  const webTasks = async () => (await c.list<TaskRow>(['service', 'ps', 'ipvs_web'])).filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'));
  const addrsOn = (tasks: TaskRow[], net: string) => sortIps(tasks.map((t) => ipOf(t.Addresses.find((a) => a.Network === net)!.Addr)));
  const serviceFor = async (netns: string, match: string): Promise<KernelLbService | undefined> =>
    (await kernelLbServices(netns)).find((s) => s.matches.includes(match));

  beforeAll(async () => {
    if (testLbBackend() !== 'ipvs') throw new Error('the VM lane runs with MESHD_TEST_LB_BACKEND=ipvs');
    dir = await mkdtemp(join(tmpdir(), 'meshd-ipvs-'));
    await writeFile(join(dir, 'ipvs.yml'), STACK);
    c = await DevCluster.up({ nodes: 3, managers: 1 });
    await c.ok(['stack', 'deploy', '-c', join(dir, 'ipvs.yml'), 'ipvs'], { timeoutMs: 180_000 });
    frontId = (await c.list<{ ID: string; Name: string }>(['network', 'ls'])).find((n) => n.Name === 'ipvs_front')!.ID;
    const [svc] = JSON.parse(await c.ok(['service', 'inspect', 'ipvs_web'])) as { Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] } }[];
    vip = ipOf(svc!.Endpoint.VirtualIPs.find((v) => v.NetworkID.startsWith(frontId))!.Addr);
    await waitFor('3 web replicas running', async () => ((await webTasks()).length === 3 ? true : undefined), slowdown(60_000), 500);
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("programs one fwmark service per VIP in every node's lb_ namespace: rr, masquerading, every replica", async () => {
    const want = addrsOn(await webTasks(), 'ipvs_front');
    for (const node of NODES) {
      const svc = await waitFor(`web's IPVS service on ${node}`, async () => {
        const s = await serviceFor(lbNs(node), `vip ${vip}`);
        return s && sortIps(s.reals.map((r) => r.addr)).join() === want.join() ? s : undefined;
      }, slowdown(20_000), 250);
      expect(svc.fwmark).toBeGreaterThan(0);
      expect(svc.scheduler).toBe('rr');
      expect(svc.reals.map((r) => r.forward)).toEqual(['Masq', 'Masq', 'Masq']);
      expect(svc.reals.map((r) => r.weight)).toEqual([1, 1, 1]);
      // The VIP is marked in mangle and IPVS-handled traffic is SNATed to the LB's address.
      const nat = await inNs(lbNs(node), ['iptables-save', '-t', 'nat']);
      expect(nat).toMatch(/-A POSTROUTING -j MESHD-SNAT/);
      expect(nat).toMatch(/-A MESHD-SNAT -m ipvs --ipvs -j SNAT --to-source 10\.\d+\.\d+\.\d+/);
    }
  });

  it('sets the IPVS sysctls in each load-balancer namespace', async () => {
    const keys = ['net.ipv4.ip_forward', 'net.ipv4.vs.conntrack', 'net.ipv4.vs.conn_reuse_mode', 'net.ipv4.vs.expire_nodest_conn', 'net.ipv4.vs.expire_quiescent_template'];
    for (const node of NODES) {
      for (const netns of [lbNs(node), sboxNs(node)]) {
        const values = (await inNs(netns, ['sysctl', '-n', ...keys])).trim().split('\n');
        expect(Object.fromEntries(keys.map((k, i) => [k, values[i]]))).toEqual({
          'net.ipv4.ip_forward': '1',
          'net.ipv4.vs.conntrack': '1',
          'net.ipv4.vs.conn_reuse_mode': '0',
          'net.ipv4.vs.expire_nodest_conn': '1',
          'net.ipv4.vs.expire_quiescent_template': '1',
        });
      }
    }
  });

  it('balances requests to the VIP round robin through IPVS (its connection counters prove it)', async () => {
    const before = parseIpvsadmStats(await inNs(lbNs('node-1'), ['ipvsadm', '-Ln', '--stats', '--exact']));
    const out = await c.ok(['task', 'exec', 'ipvs_client.1', '--', 'sh', '-c', `for i in $(seq 12); do curl -s --max-time 5 http://${vip}/; done`], { timeoutMs: slowdown(60_000) });
    const answers = out.trim().split('\n');
    expect(answers).toHaveLength(12);
    // Round robin over three replicas: each answers exactly 4 of 12 sequential connections.
    const counts = new Map<string, number>();
    for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ 'ipvs_web.1': 4, 'ipvs_web.2': 4, 'ipvs_web.3': 4 });
    // node-1's IPVS counters (`ipvsadm -Ln --stats --exact`) saw it: every real got connections
    // and carried packets for its 4 (at least SYN, ACK and the request each). The kernel (6.1)
    // publishes these counters from its rate estimator, which sums the per-CPU counts every 2 s:
    // read right after the requests they can miss the last ones, so they are read until they
    // include them. Connections are not required to be exactly 4 each: with conn_reuse_mode=0
    // (as Swarm) a client port reused while its old entry lingers continues that entry.
    const mark = (await serviceFor(lbNs('node-1'), `vip ${vip}`))!.fwmark;
    let delta: { conns: number; inPkts: number }[] = [];
    await waitFor('IPVS counters to include the 12 requests', async () => {
      const after = parseIpvsadmStats(await inNs(lbNs('node-1'), ['ipvsadm', '-Ln', '--stats', '--exact']));
      delta = Object.entries(after[mark] ?? {}).map(([addr, n]) => ({
        conns: n.conns - (before[mark]?.[addr]?.conns ?? 0),
        inPkts: n.inPkts - (before[mark]?.[addr]?.inPkts ?? 0),
      }));
      return delta.length === 3 && delta.every((d) => d.conns >= 1 && d.inPkts >= 4 * 3) ? true : undefined;
    }, slowdown(3 * 2_000), 500).catch(() => undefined);
    expect(delta).toHaveLength(3);
    for (const d of delta) expect(d.conns).toBeGreaterThanOrEqual(1);
    for (const d of delta) expect(d.inPkts).toBeGreaterThanOrEqual(4 * 3);
  });

  it('programs the published port in every ingress sandbox and answers it on every node', async () => {
    const want = addrsOn(await webTasks(), 'ingress');
    for (const [i, node] of NODES.entries()) {
      const svc = await waitFor(`8080 in ${node}'s ingress sandbox`, async () => {
        const s = await serviceFor(sboxNs(node), 'tcp 8080');
        return s && sortIps(s.reals.map((r) => r.addr)).join() === want.join() ? s : undefined;
      }, slowdown(20_000), 250);
      expect(svc.scheduler).toBe('rr');
      expect(svc.reals.every((r) => r.forward === 'Masq' && r.weight === 1)).toBe(true);
      const underlay = join(c.dir, 'netns', 'underlay');
      const res = await execa('nsenter', [`--net=${underlay}`, 'sh', '-c', `for i in $(seq 6); do curl -s --max-time 5 http://172.30.0.${11 + i}:8080/; done`]);
      expect(new Set(String(res.stdout).trim().split('\n'))).toEqual(new Set(['ipvs_web.1', 'ipvs_web.2', 'ipvs_web.3']));
    }
  });

  it("drains a dead replica's backend to weight 0, then removes it, on every node", async () => {
    // The replica exits for good (restart condition none): its backend drains, then goes.
    const victim = (await webTasks()).find((t) => t.Node === 'node-2')!;
    const ip = ipOf(victim.Addresses.find((a) => a.Network === 'ipvs_front')!.Addr);
    const pid = await c.taskPid('node-2', victim.ID);
    // Watch node-1's and node-3's lb_ namespaces closely: weight over time for the victim.
    const seen: Record<string, (number | 'gone')[]> = { 'node-1': [], 'node-3': [] };
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const node of Object.keys(seen)) {
          const s = await serviceFor(lbNs(node), `vip ${vip}`);
          const w = s?.reals.find((r) => r.addr === ip)?.weight ?? 'gone';
          const hist = seen[node]!;
          if (hist[hist.length - 1] !== w) hist.push(w);
        }
      }
    })();
    try {
      await waitFor('watcher saw the victim at weight 1', async () => (Object.values(seen).every((h) => h[0] === 1) ? true : undefined), slowdown(5_000), 50);
      process.kill(pid, 'SIGKILL');
      await waitFor('victim gone from every lb_', async () => (Object.values(seen).every((h) => h[h.length - 1] === 'gone') ? true : undefined), slowdown(30_000), 100);
    } finally {
      watching = false;
      await watch;
    }
    for (const node of Object.keys(seen)) expect({ node, weights: seen[node] }).toEqual({ node, weights: [1, 0, 'gone'] });
    // With restart condition none it stays Failed in its slot; the other two answer everything.
    const out = await c.ok(['task', 'exec', 'ipvs_client.1', '--', 'sh', '-c', `for i in $(seq 6); do curl -s --max-time 5 http://${vip}/; done`], { timeoutMs: slowdown(60_000) });
    const answers = out.trim().split('\n');
    expect(answers).toHaveLength(6);
    expect(new Set(answers)).toEqual(new Set(['ipvs_web.1', 'ipvs_web.2', 'ipvs_web.3'].filter((n) => n !== victim.Name)));
  });
});
