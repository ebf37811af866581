/**
 * A probe process that lives in one network namespace (the underlay, or a client task's
 * sandbox) and watches for a condition as fast as it can, so the bench does not pay a process
 * start per check. Reads one JSON Probe per line on stdin; writes one JSON ProbeResult per line
 * when the condition holds (or the time is up). Prints READY first.
 */
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { queryA } from './dns-wire.js';

export type Probe =
  /** `ok`: an HTTP 200 within 300 ms; `fail`: the connection is refused or reset (not a mere timeout). */
  | { id: string; kind: 'http'; url: string; want: 'ok' | 'fail'; timeoutMs: number }
  /** `answer`: at least one A record; `absent`: answers that no longer include `addr`. */
  | { id: string; kind: 'dns'; server: string; name: string; want: 'answer' | 'absent' | 'present'; addr?: string; timeoutMs: number };

export interface ProbeResult {
  id: string;
  ok: boolean;
  /** Epoch ms when the condition first held (or when the probe gave up). */
  at: number;
  tries: number;
  last?: string;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type HttpOutcome = 'ok' | 'refused' | 'other';

function httpOnce(url: string): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 300, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : 'other'));
      res.on('error', () => resolve('other'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? 'refused' : 'other'));
    req.end();
  });
}

async function check(p: Probe): Promise<[boolean, string]> {
  if (p.kind === 'http') {
    const outcome = await httpOnce(p.url);
    return [p.want === 'ok' ? outcome === 'ok' : outcome === 'refused', outcome];
  }
  try {
    const a = await queryA(p.server, p.name, 200);
    const text = `rcode ${a.rcode} [${a.addrs.join(',')}]`;
    if (p.want === 'answer') return [a.rcode === 0 && a.addrs.length > 0, text];
    if (p.want === 'present') return [a.rcode === 0 && a.addrs.includes(p.addr!), text];
    return [a.rcode === 0 && !a.addrs.includes(p.addr!), text];
  } catch (err) {
    return [false, (err as Error).message];
  }
}

async function run(p: Probe): Promise<ProbeResult> {
  const deadline = now() + p.timeoutMs;
  let tries = 0;
  let last = '';
  for (;;) {
    tries++;
    const [ok, what] = await check(p);
    last = what;
    if (ok) return { id: p.id, ok: true, at: now(), tries };
    if (now() > deadline) return { id: p.id, ok: false, at: now(), tries, last };
    await sleep(10);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const p = JSON.parse(line) as Probe;
  void run(p).then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
});
rl.on('close', () => process.exit(0));
process.stdout.write('READY\n');
