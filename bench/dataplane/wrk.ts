/** One wrk run of short HTTP requests, each on a new connection (`Connection: close`). */
import { inNs, sh } from '../lib/proc.js';

export interface WrkResult {
  rps: number;
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

function ms(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text ?? '');
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

export async function wrk(o: { netns: string; url: string; seconds: number; connections: number }): Promise<WrkResult> {
  const argv = ['wrk', '-t', '1', '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', '-H', 'Connection: close', o.url];
  const { stdout } = await sh(inNs(o.netns, argv), { timeoutMs: (o.seconds + 30) * 1000 });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1];
  const total = /(\d+) requests in/.exec(stdout)?.[1];
  if (!rps || !total) throw new Error(`wrk output not understood:\n${stdout}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = (sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0) + non2xx;
  return {
    rps: Number(rps),
    requests: Number(total),
    errors,
    p50Ms: ms(/^\s+50%\s+(\S+)/m.exec(stdout)?.[1]),
    p99Ms: ms(/^\s+99%\s+(\S+)/m.exec(stdout)?.[1]),
  };
}
