/**
 * Row 3: convergence on the 5-node dev cluster. Every time is from the moment the bench acts
 * (runs meshctl, or kills a replica) to the moment the condition holds on every node, observed
 * from where it matters: published ports from the underlay, names from a client task on each
 * node (its own DNS server), LB backends from each node's kernel.
 */
import type { BenchConfig } from '../lib/config.js';
import { dur } from '../lib/format.js';
import { Cleanup } from '../lib/proc.js';
import type { Section } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';
import { BenchCluster, NODES, nodeAddr } from '../cluster/cluster.js';
import { convergenceStack } from '../cluster/stacks.js';
import { waitLbAll } from './lbwatch.js';
import { Prober } from './probes.js';
import type { TaskRow } from '../../test/helpers/dev.js';

const STACK = 'cv';
const TARGET_P50_MS = 1_000;
const TARGET_P95_MS = 2_000;
const now = () => performance.timeOrigin + performance.now();

interface Series {
  label: string;
  ms: number[];
  /** meshctl's own duration per repetition, when a command starts it. */
  cliMs: number[];
}

function check<T extends { ok: boolean; last?: string }>(r: T, what: string): T {
  if (!r.ok) throw new Error(`${what} did not happen in time (last: ${r.last ?? '?'})`);
  return r;
}

export async function convergenceRow(c: BenchCluster, cfg: BenchConfig, log: (l: string) => void): Promise<Section> {
  const cleanup = new Cleanup();
  const series = {
    port: { label: 'deploy -> published port answers on every node', ms: [], cliMs: [] } as Series,
    name: { label: 'deploy -> name resolves on every node', ms: [], cliMs: [] } as Series,
    removed: { label: 'service removed -> its port refuses on every node', ms: [], cliMs: [] } as Series,
    killLb: { label: "replica killed -> gone from every node's LB", ms: [], cliMs: [] } as Series,
    killDns: { label: "replica killed -> gone from every node's DNS (tasks.web)", ms: [], cliMs: [] } as Series,
    kill: { label: 'replica killed -> gone from every LB and DNS', ms: [], cliMs: [] } as Series,
    up: { label: 'scale 3 -> 20: every node\'s LB has the 20', ms: [], cliMs: [] } as Series,
    down: { label: 'scale 20 -> 3: every node\'s LB has the 3', ms: [], cliMs: [] } as Series,
  };
  try {
    await c.deploy(STACK, convergenceStack(), false);
    const netId = await c.networkId(`${STACK}_net`);
    const webVip = await c.vip(`${STACK}_web`);
    const clients = await c.runningTasks(`${STACK}_client`);
    const byNode = new Map<string, TaskRow>(clients.map((t) => [t.Node, t]));
    const [underlay, dnsProbers] = await Promise.all([
      Prober.start('underlay', c.underlay, cleanup),
      Promise.all(
        NODES.map(async (node) => {
          const t = byNode.get(node);
          if (!t) throw new Error(`no client task on ${node}`);
          const [server, prober] = await Promise.all([c.dnsServer(t), Prober.start(`client on ${node}`, c.taskNetns(t), cleanup)]);
          return { node, server, prober };
        }),
      ),
    ]);
    const webAddrs = async () => (await c.runningTasks(`${STACK}_web`)).map(BenchCluster.addr).sort();
    const lbHas = (want: string[]) => (b: string[]) => b.join() === want.join();
    // Initial state in every LB before anything is timed.
    await waitLbAll(c, NODES, netId, webVip, (b) => b.length === 3, 60_000);

    // Deploy a published service: port on every node, name on every node; then remove it.
    for (let i = 0; i < cfg.deployReps; i++) {
      const name = `p${i}`;
      const port = 20_100 + i;
      const ports = NODES.map((node) => underlay.probe({ kind: 'http', url: `http://${nodeAddr(node)}:${port}/`, want: 'ok', timeoutMs: 60_000 }));
      const names = dnsProbers.map((d) => d.prober.probe({ kind: 'dns', server: d.server, name, want: 'answer', timeoutMs: 60_000 }));
      const t0 = now();
      const cli = await c.deploy(STACK, convergenceStack({ name, port }));
      const portAt = (await Promise.all(ports)).map((r) => check(r, `port ${port}`).at);
      const nameAt = (await Promise.all(names)).map((r) => check(r, `name ${name}`).at);
      series.port.ms.push(Math.max(...portAt) - t0);
      series.name.ms.push(Math.max(...nameAt) - t0);
      series.port.cliMs.push(cli);
      series.name.cliMs.push(cli);
      const closed = NODES.map((node) => underlay.probe({ kind: 'http', url: `http://${nodeAddr(node)}:${port}/`, want: 'fail', timeoutMs: 60_000 }));
      const t1 = now();
      series.removed.cliMs.push(await c.deploy(STACK, convergenceStack()));
      series.removed.ms.push(Math.max(...(await Promise.all(closed)).map((r) => check(r, `port ${port} closed`).at)) - t1);
      log(`convergence: deploy ${i + 1}/${cfg.deployReps}: port ${Math.round(series.port.ms.at(-1)!)} ms, name ${Math.round(series.name.ms.at(-1)!)} ms, removed ${Math.round(series.removed.ms.at(-1)!)} ms`);
    }

    // Kill a replica (SIGKILL, as a crash): gone from every LB and every node's DNS.
    for (let i = 0; i < cfg.killReps; i++) {
      const web = await c.runningTasks(`${STACK}_web`);
      await waitLbAll(c, NODES, netId, webVip, lbHas(web.map(BenchCluster.addr).sort()), 60_000);
      const victim = web[i % web.length]!;
      const ip = BenchCluster.addr(victim);
      await Promise.all(dnsProbers.map(async (d) => check(await d.prober.probe({ kind: 'dns', server: d.server, name: 'tasks.web', want: 'present', addr: ip, timeoutMs: 30_000 }), `${ip} in DNS`)));
      const pid = await c.dev.taskPid(victim.Node, victim.ID);
      const gone = dnsProbers.map((d) => d.prober.probe({ kind: 'dns', server: d.server, name: 'tasks.web', want: 'absent', addr: ip, timeoutMs: 30_000 }));
      const t0 = now();
      process.kill(pid, 'SIGKILL');
      const lbAt = await waitLbAll(c, NODES, netId, webVip, (b) => !b.includes(ip), 30_000);
      const dnsAt = (await Promise.all(gone)).map((r) => check(r, `${ip} gone from DNS`).at);
      series.killLb.ms.push(Math.max(...lbAt) - t0);
      series.killDns.ms.push(Math.max(...dnsAt) - t0);
      series.kill.ms.push(Math.max(...lbAt, ...dnsAt) - t0);
      log(`convergence: kill ${i + 1}/${cfg.killReps}: LB ${Math.round(series.killLb.ms.at(-1)!)} ms, DNS ${Math.round(series.killDns.ms.at(-1)!)} ms`);
      // It restarts in place (same task, same address) after its 2 s delay.
      await waitLbAll(c, NODES, netId, webVip, (b) => b.includes(ip), 60_000);
    }

    // Scale 3 -> 20 -> 3.
    for (let i = 0; i < cfg.scaleReps; i++) {
      await waitLbAll(c, NODES, netId, webVip, lbHas(await webAddrs()), 60_000);
      for (const [n, s] of [[20, series.up], [3, series.down]] as const) {
        const t0 = now();
        const c0 = performance.now();
        await c.dev.ok(['service', 'scale', `${STACK}_web=${n}`]);
        s.cliMs.push(performance.now() - c0);
        const at = await waitLbAll(c, NODES, netId, webVip, (b) => b.length === n, 120_000);
        s.ms.push(Math.max(...at) - t0);
      }
      log(`convergence: scale ${i + 1}/${cfg.scaleReps}: up ${Math.round(series.up.ms.at(-1)!)} ms, down ${Math.round(series.down.ms.at(-1)!)} ms`);
    }
    await c.dev.ok(['stack', 'rm', STACK]);
  } finally {
    await cleanup.runAll(log);
  }
  const rows = Object.values(series).map((s) => {
    const x = summarize(s.ms);
    const target = x.p50 <= TARGET_P50_MS && x.p95 <= TARGET_P95_MS ? 'met' : 'missed';
    return [s.label, String(x.n), dur(x.min), dur(x.p50), dur(x.p95), dur(x.max), s.cliMs.length ? dur(median(s.cliMs)) : '— (no command)', `p50 <= 1 s, p95 <= 2 s: ${target}`];
  });
  const cli = median([...series.port.cliMs, ...series.up.cliMs, ...series.down.cliMs]);
  return {
    id: 'convergence',
    title: 'Convergence (5-node dev cluster)',
    method: `One manager and four workers (\`meshctl dev up --nodes 5 --managers 1\`), nftables LB. A global client task on every node, a 3-replica web service; the data-plane stack of rows 1-2 stays deployed, so the routing mesh is already up on every node. Repetitions: ${cfg.deployReps} deploys (each adds a service publishing a new port, then removes it), ${cfg.killReps} replica kills (SIGKILL; the replica restarts after 2 s), ${cfg.scaleReps} scale cycles. Times run from the moment the bench starts meshctl (or kills the process) until the condition holds on all 5 nodes: a published port answering HTTP from the underlay, the name resolving through each node's own DNS server from that node's client task, the VIP's backends in each node's kernel (nft in the node's \`lb_\` namespace, polled about every 20-50 ms).`,
    tables: [
      {
        columns: ['event', 'reps', 'min', 'p50', 'p95', 'max', 'of which meshctl ran (median)', 'target'],
        rows,
        limit: `Times that start with a command include meshctl itself (about ${dur(cli)}: Node start-up, entering the underlay namespace, connecting to NATS). DNS follows a change as soon as each worker's mirror has it (replica killed -> DNS p50 ${dur(median(series.killDns.ms))}), while the LB waits for each node's next data-plane sync, which writes the LB rules first and then checks every namespace with \`ip\`/\`bridge\`/\`nft\` processes on 2 shared cores (replica killed -> LB p50 ${dur(median(series.killLb.ms))}); published ports and scaling up also wait for new tasks' processes to start.`,
      },
    ],
    notes: [],
  };
}
