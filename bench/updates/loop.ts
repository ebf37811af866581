/**
 * A request loop process that lives in one network namespace (the underlay, or a client task's
 * sandbox) and is started once per row: each `start` line on stdin begins a loop (a GET every
 * `intervalMs`, each with its own `timeoutMs`, not waiting for the previous one), `started` is
 * written after its first 200; `stop` ends it, waits for the requests in flight and writes their
 * tally. Prints READY first. Targets: published ports through the routing mesh (one node after
 * the other), or a service's VIP by name (an A query to the node's DNS server before every
 * request, as a client without a cache does; a failed lookup is a failed request).
 */
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { queryA } from '../convergence/dns-wire.js';

export type LoopTarget = { kind: 'mesh'; urls: string[] } | { kind: 'vip-by-name'; dnsServer: string; name: string; port: number };

export type LoopCommand = { cmd: 'start'; target: LoopTarget; intervalMs: number; timeoutMs: number } | { cmd: 'stop' };

export interface LoopFailure {
  /** Epoch ms the request started. */
  at: number;
  /** `ECONNREFUSED`, `ECONNRESET`, `timeout (connecting)`, `status 502`, `dns timeout`, ... */
  error: string;
}

export interface LoopTally {
  requests: number;
  failures: LoopFailure[];
}

const now = () => performance.timeOrigin + performance.now();

function get(url: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let connected = false;
    const req = request(url, { timeout: timeoutMs, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? undefined : `status ${res.statusCode}`));
      res.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    req.on('socket', (s) => s.once('connect', () => (connected = true)));
    // A timeout says whether the connection was established: connecting is a SYN nobody answered
    // (e.g. a replica whose sandbox is gone), connected is a server too slow to answer.
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: `timeout (${connected ? 'connected' : 'connecting'})` })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

/** One request; undefined when it succeeded, else what went wrong. */
async function once(target: LoopTarget, seq: number, timeoutMs: number): Promise<string | undefined> {
  if (target.kind === 'mesh') return get(target.urls[seq % target.urls.length]!, timeoutMs);
  const t0 = now();
  let addr: string | undefined;
  try {
    const a = await queryA(target.dnsServer, target.name, timeoutMs);
    if (a.rcode !== 0 || a.addrs.length === 0) return `dns rcode ${a.rcode}, ${a.addrs.length} addresses`;
    addr = a.addrs[0];
  } catch (err) {
    return `dns ${(err as Error).message}`;
  }
  return get(`http://${addr}:${target.port}/`, Math.max(1, timeoutMs - (now() - t0)));
}

class Loop {
  private stopped = false;
  private readonly pending: Promise<void>[] = [];
  private readonly failures: LoopFailure[] = [];
  private started = false;

  constructor(private readonly c: Extract<LoopCommand, { cmd: 'start' }>) {
    void this.run();
  }

  private async run(): Promise<void> {
    for (let seq = 0; !this.stopped; seq++) {
      const at = now();
      this.pending.push(
        once(this.c.target, seq, this.c.timeoutMs).then((error) => {
          if (error !== undefined) this.failures.push({ at, error });
          else if (!this.started) {
            this.started = true;
            process.stdout.write(`${JSON.stringify({ event: 'started' })}\n`);
          }
        }),
      );
      await new Promise((r) => setTimeout(r, this.c.intervalMs));
    }
  }

  async stop(): Promise<LoopTally> {
    this.stopped = true;
    await Promise.all(this.pending);
    return { requests: this.pending.length, failures: this.failures.sort((a, b) => a.at - b.at) };
  }
}

let loop: Loop | undefined;
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line) as LoopCommand;
  if (c.cmd === 'start') {
    loop = new Loop(c);
    return;
  }
  const current = loop;
  loop = undefined;
  void (current?.stop() ?? Promise.resolve<LoopTally>({ requests: 0, failures: [] })).then((tally) => process.stdout.write(`${JSON.stringify({ event: 'stopped', tally })}\n`));
});
rl.on('close', () => process.exit(0));
process.stdout.write('READY\n');
