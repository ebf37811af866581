/** Runs dnsperf and reads its summary. */
import { inNs, sh } from '../lib/proc.js';

export interface DnsperfResult {
  qps: number;
  sent: number;
  completed: number;
  lost: number;
  avgLatencyMs: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  rcodes: string;
}

function num(text: string, re: RegExp, what: string): number {
  const m = re.exec(text);
  if (!m?.[1]) throw new Error(`dnsperf output has no ${what}:\n${text.slice(-1500)}`);
  return Number(m[1]);
}

export async function dnsperf(o: { netns: string; cpu?: number; server: string; queries: string; seconds: number; maxQps?: number }): Promise<DnsperfResult> {
  const argv = ['dnsperf', '-s', o.server, '-d', o.queries, '-l', String(o.seconds), '-c', '8', '-q', '200', '-t', '2', ...(o.maxQps ? ['-Q', String(o.maxQps)] : [])];
  const pinned = o.cpu === undefined ? argv : ['taskset', '-c', String(o.cpu), ...argv];
  const { stdout } = await sh(inNs(o.netns, pinned), { timeoutMs: (o.seconds + 30) * 1000 });
  const lat = /Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)/.exec(stdout);
  if (!lat) throw new Error(`dnsperf output has no latency line:\n${stdout.slice(-1500)}`);
  return {
    qps: num(stdout, /Queries per second:\s+([\d.]+)/, 'queries per second'),
    sent: num(stdout, /Queries sent:\s+(\d+)/, 'queries sent'),
    completed: num(stdout, /Queries completed:\s+(\d+)/, 'queries completed'),
    lost: num(stdout, /Queries lost:\s+(\d+)/, 'queries lost'),
    avgLatencyMs: Number(lat[1]) * 1000,
    minLatencyMs: Number(lat[2]) * 1000,
    maxLatencyMs: Number(lat[3]) * 1000,
    rcodes: /Response codes:\s+(.+)/.exec(stdout)?.[1]?.trim() ?? '',
  };
}
