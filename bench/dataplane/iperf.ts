/** One iperf3 TCP run (client side, JSON output). */
import { inNs, sh } from '../lib/proc.js';

export interface IperfResult {
  gbps: number;
  retransmits: number;
  senderCpuPct: number;
  receiverCpuPct: number;
}

export async function iperf(o: { netns: string; server: string; port?: number; seconds: number; streams: number }): Promise<IperfResult> {
  const argv = ['iperf3', '-c', o.server, '-p', String(o.port ?? 5201), '-t', String(o.seconds), '-P', String(o.streams), '-J', '--connect-timeout', '3000'];
  for (let attempt = 1; ; attempt++) {
    const r = await sh(inNs(o.netns, argv), { allowFail: true, timeoutMs: (o.seconds + 30) * 1000 });
    let doc: { error?: string; end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number }; cpu_utilization_percent?: { host_total: number; remote_total: number } } } = {};
    try {
      doc = JSON.parse(r.stdout);
    } catch {
      doc = { error: r.stderr || r.stdout };
    }
    const end = doc.end;
    if (r.code === 0 && end?.sum_received) {
      return {
        gbps: end.sum_received.bits_per_second / 1e9,
        retransmits: end.sum_sent?.retransmits ?? 0,
        senderCpuPct: end.cpu_utilization_percent?.host_total ?? NaN,
        receiverCpuPct: end.cpu_utilization_percent?.remote_total ?? NaN,
      };
    }
    // The server takes one test at a time; "busy" right after the previous run is transient.
    if (attempt >= 5) throw new Error(`iperf3 to ${o.server}: ${doc.error ?? r.stderr}`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}
