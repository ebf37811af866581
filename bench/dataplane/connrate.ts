/**
 * Row 2: connection rate. wrk (one thread, a new connection per request) against one HTTP
 * replica on node-2: directly from a task on node-1, through the service VIP from that task, and
 * through the published port on node-1 from the underlay (an outside client; node-1 runs no
 * replica, so the routing mesh carries it over the ingress overlay). Runs interleaved.
 */
import type { BenchConfig } from '../lib/config.js';
import { busyBetween, childrenCpuMs, cpuTimes, machineCpu } from '../lib/cpu.js';
import { dur, fmt, pct } from '../lib/format.js';
import type { Section } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';
import { BenchCluster, nodeAddr } from '../cluster/cluster.js';
import { PUBLISHED_PORT } from '../cluster/stacks.js';
import { wrk, type WrkResult } from './wrk.js';

const TARGET = 0.8;

type Run = WrkResult & { serverCpu: number; clientCpu: number; busy: number };

export async function connRateRow(c: BenchCluster, cfg: BenchConfig, log: (l: string) => void): Promise<Section> {
  const [client] = await c.runningTasks('dp_client');
  const [server] = await c.runningTasks('dp_http');
  if (!client || !server) throw new Error('the data-plane stack is not running');
  const vip = await c.vip('dp_http');
  const serverPid = await c.dev.taskPid(server.Node, server.ID);
  const cases = [
    { key: 'direct', label: 'task -> replica address (reference)', netns: c.taskNetns(client), url: `http://${BenchCluster.addr(server)}:8080/`, runs: [] as Run[] },
    { key: 'vip', label: 'task -> service VIP', netns: c.taskNetns(client), url: `http://${vip}:8080/`, runs: [] as Run[] },
    { key: 'published', label: `underlay client -> node-1:${PUBLISHED_PORT} (routing mesh)`, netns: c.underlay, url: `http://${nodeAddr('node-1')}:${PUBLISHED_PORT}/`, runs: [] as Run[] },
  ];
  // One unrecorded second per path first (the server's JIT, conntrack and ARP caches warm up).
  for (const k of cases) await wrk({ netns: k.netns, url: k.url, seconds: 1, connections: cfg.wrkConnections });
  for (let i = 0; i < cfg.wrkRuns; i++) {
    for (const k of cases) {
      const cpu0 = await cpuTimes(serverPid);
      const wrk0 = await childrenCpuMs();
      const m0 = await machineCpu();
      const t0 = performance.now();
      const r = await wrk({ netns: k.netns, url: k.url, seconds: cfg.wrkSeconds, connections: cfg.wrkConnections });
      const ms = performance.now() - t0;
      const serverCpu = ((await cpuTimes(serverPid)).self - cpu0.self) / ms;
      const clientCpu = ((await childrenCpuMs()) - wrk0) / ms;
      k.runs.push({ ...r, serverCpu, clientCpu, busy: busyBetween(m0, await machineCpu()) });
      log(`connrate: ${k.key} run ${i + 1}: ${Math.round(r.rps)} req/s, ${r.errors} errors, server CPU ${Math.round(serverCpu * 100)}%, wrk ${Math.round(clientCpu * 100)}%`);
    }
  }
  const ref = median(cases[0]!.runs.map((r) => r.rps));
  const rows = cases.map((k, i) => {
    const s = summarize(k.runs.map((r) => r.rps));
    const ratio = s.p50 / ref;
    return [
      k.label,
      String(s.n),
      fmt(s.min),
      fmt(s.p50),
      fmt(s.max),
      i === 0 ? '100% (reference)' : `${pct(ratio)} of direct`,
      `${dur(median(k.runs.map((r) => r.p50Ms)))} / ${dur(median(k.runs.map((r) => r.p99Ms)))}`,
      String(k.runs.reduce((a, r) => a + r.errors, 0)),
      `${pct(median(k.runs.map((r) => r.serverCpu)))} / ${pct(median(k.runs.map((r) => r.clientCpu)))}`,
      i === 0 ? '—' : `>= ${pct(TARGET)} of direct: ${ratio >= TARGET ? 'met' : 'missed'}`,
    ];
  });
  const srvCpu = median(cases.flatMap((k) => k.runs.map((r) => r.serverCpu)));
  const wrkCpu = median(cases.flatMap((k) => k.runs.map((r) => r.clientCpu)));
  const busy = median(cases.flatMap((k) => k.runs.map((r) => r.busy)));
  return {
    id: 'connrate',
    title: 'Connection rate',
    method: `wrk, 1 thread, ${cfg.wrkConnections} connections, \`Connection: close\` (every request opens a new TCP connection), ${cfg.wrkSeconds} s per run, ${cfg.wrkRuns} runs per path, interleaved. Server: one replica (a Node \`http\` server answering \`ok\`) on node-2.`,
    tables: [
      {
        columns: ['path', 'runs', 'min req/s', 'median req/s', 'max req/s', 'ratio', 'latency p50 / p99 (median)', 'errors', 'CPU server / wrk (median)', 'target'],
        rows,
        limit: `${srvCpu > 0.85 ? `The single-threaded Node server, at ${pct(srvCpu)} of a core, is the limit` : wrkCpu > 0.85 ? `wrk's one thread, at ${pct(wrkCpu)} of a core, is the limit` : `Neither the server (${pct(srvCpu)} of a core) nor wrk (${pct(wrkCpu)}) was saturated: the machine's CPUs were ${pct(busy)} busy (median, other load included), so connection setup in the kernel competed for CPU with everything else`}; what the VIP and the routing mesh add per connection (nftables DNAT/SNAT and a conntrack entry; for the published port also the ingress sandbox and a second VXLAN hop) is the gap to direct.`,
      },
    ],
    notes: [],
  };
}
