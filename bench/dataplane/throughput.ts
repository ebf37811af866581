/**
 * Row 1: overlay throughput. iperf3 between a client task on node-1 and a server task on node-2
 * over the overlay (to the task's address, and through the service VIP), against the same two
 * nodes' namespaces talking over the plain underlay (the path the VXLAN packets take). Runs of
 * every case alternate so drifting background load spreads over all of them.
 */
import type { BenchConfig } from '../lib/config.js';
import { fmt, pct } from '../lib/format.js';
import { Cleanup, Daemon, inNs } from '../lib/proc.js';
import { busyBetween, machineCpu } from '../lib/cpu.js';
import type { Section } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';
import { BenchCluster, nodeAddr } from '../cluster/cluster.js';
import { describeLink } from '../cluster/netinfo.js';
import { iperf, type IperfResult } from './iperf.js';

interface Case {
  key: string;
  label: string;
  streams: number;
  netns: string;
  server: string;
  port?: number;
  /** Key of the case this one is compared with. */
  ref?: string;
  target?: number;
  runs: IperfResult[];
}

const UNDERLAY_PORT = 5299;

export async function throughputRow(c: BenchCluster, cfg: BenchConfig, log: (l: string) => void): Promise<Section> {
  const cleanup = new Cleanup();
  try {
    const [client] = await c.runningTasks('dp_client');
    const [server] = await c.runningTasks('dp_iperf');
    if (!client || !server) throw new Error('the data-plane stack is not running');
    const vip = await c.vip('dp_iperf');
    const clientNs = c.taskNetns(client);
    const n1 = c.nodeNetns('node-1');
    const n2 = c.nodeNetns('node-2');
    const underlaySrv = cleanup.daemon(await Daemon.start('iperf3 underlay server', inNs(n2, ['iperf3', '-s', '-B', nodeAddr('node-2'), '-p', String(UNDERLAY_PORT), '--forceflush'])));
    await underlaySrv.waitFor(/listening/i, 10_000);
    const cases: Case[] = [];
    for (const streams of [1, 4]) {
      cases.push(
        { key: `u${streams}`, label: `underlay, node-1 -> node-2 namespaces (reference)`, streams, netns: n1, server: nodeAddr('node-2'), port: UNDERLAY_PORT, runs: [] },
        { key: `o${streams}`, label: 'overlay, task -> task address', streams, netns: clientNs, server: BenchCluster.addr(server), ref: `u${streams}`, target: streams === 4 ? 0.95 : undefined, runs: [] },
        { key: `v${streams}`, label: 'overlay, task -> service VIP', streams, netns: clientNs, server: vip, ref: `o${streams}`, target: 0.9, runs: [] },
      );
    }
    const busy: number[] = [];
    for (let i = 0; i < cfg.iperfRuns; i++) {
      for (const k of cases) {
        const m0 = await machineCpu();
        const r = await iperf({ netns: k.netns, server: k.server, port: k.port, seconds: cfg.iperfSeconds, streams: k.streams });
        busy.push(busyBetween(m0, await machineCpu()));
        k.runs.push(r);
        log(`throughput: ${k.key} run ${i + 1}: ${r.gbps.toFixed(2)} Gbit/s`);
      }
    }
    const med = (key: string) => median(cases.find((x) => x.key === key)!.runs.map((r) => r.gbps));
    const rows = cases.map((k) => {
      const s = summarize(k.runs.map((r) => r.gbps));
      const ratio = k.ref ? s.p50 / med(k.ref) : undefined;
      const refName = k.ref?.startsWith('u') ? 'underlay' : 'direct';
      return [
        k.label,
        String(k.streams),
        String(s.n),
        fmt(s.min),
        fmt(s.p50),
        fmt(s.max),
        ratio === undefined ? '—' : `${pct(ratio)} of ${refName}`,
        fmt(median(k.runs.map((r) => r.retransmits))),
        `${fmt(median(k.runs.map((r) => r.senderCpuPct)), 2)}% / ${fmt(median(k.runs.map((r) => r.receiverCpuPct)), 2)}%`,
        k.target === undefined || ratio === undefined ? '—' : `>= ${pct(k.target)} of ${refName}: ${ratio >= k.target ? 'met' : 'missed'}`,
      ];
    });
    const ovNs = c.runDir('node-1') + `/netns/ov_${(await c.networkId('dp_net')).slice(0, 12)}`;
    const links = await Promise.all([
      describeLink('underlay, node-1', n1, 'eth0'),
      describeLink('overlay, node-1', ovNs, 'vxlan0'),
      describeLink('overlay bridge, node-1', ovNs, 'br0'),
      describeLink('task, node-1', clientNs, 'eth0'),
    ]);
    const o4 = med('o4') / med('u4');
    return {
      id: 'throughput',
      title: 'Overlay throughput',
      method: `iperf3 TCP, ${cfg.iperfSeconds} s per run, ${cfg.iperfRuns} runs per case, runs of all cases interleaved. Client: a task on node-1; server: an \`iperf3 -s\` task on node-2 (the only replica, so the VIP always reaches it). Reference: the same two nodes' network namespaces over the dev underlay (veth + bridge), which is the path the VXLAN packets take. Gbit/s is what the receiver got.`,
      tables: [
        {
          columns: ['path', 'streams (-P)', 'runs', 'min Gbit/s', 'median Gbit/s', 'max Gbit/s', 'ratio', 'retransmits (median)', 'CPU sender / receiver (median, iperf3)', 'target'],
          rows,
          limit: `CPU: no NIC is involved (veth, bridges and VXLAN in one kernel), so every byte costs copies and softirq work, and the machine's CPUs were ${pct(median(busy))} busy during the runs (median, other load included); the overlay adds VXLAN encapsulation per packet in software and a 1450-byte MTU (1500 on the underlay), which left it at ${pct(o4)} of the underlay with 4 streams, and the VIP adds nftables DNAT/SNAT and conntrack on top.`,
        },
      ],
      notes: links.map((l) => `MTU and offloads seen on the path: ${l}.`),
    };
  } finally {
    await cleanup.runAll(log);
  }
}
