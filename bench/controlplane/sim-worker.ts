/**
 * One process hosting many simulated workers (forked by sim.ts). A simulated worker is what a
 * real worker does with state and nothing else: its own NATS connection, the buckets bound, and
 * the project's ClusterMirrors (core/state/cluster-mirrors.ts: a KvMirror per bucket, with its
 * stall checks). No kernel changes.
 */
import { connect, type NatsConnection } from 'nats';
import { openBuckets } from '../../core/state/buckets.js';
import { allMirrors, startClusterMirrors, type ClusterMirrors } from '../../core/state/cluster-mirrors.js';
import type { Logger } from '../../core/log.js';
import { nowMs, type Expect, type FromHost, type ToHost } from './protocol.js';

const warnings: Record<string, number> = {};
/** A logger that counts warnings (a mirror restarting a stalled watch is one) and prints nothing. */
const counting: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (msg) => void (warnings[msg] = (warnings[msg] ?? 0) + 1),
  error: (msg) => void (warnings[msg] = (warnings[msg] ?? 0) + 1),
  child: () => counting,
};

interface SimWorker {
  nc: NatsConnection;
  mirrors: ClusterMirrors;
  fullAt?: number;
}

const send = (m: FromHost) => process.send!(m);
let workers: SimWorker[] = [];
let expect: Expect;

function holdsAll(m: ClusterMirrors): boolean {
  return m.networks.size === expect.networks && m.services.size === expect.services && m.tasks.size === expect.tasks && m.lbaddrs.size === expect.lbaddrs;
}

let fullCount = 0;

/** Called on every change a worker's mirrors see: notes when that worker first holds it all. */
function checkFull(w: SimWorker): void {
  if (w.fullAt !== undefined || !holdsAll(w.mirrors)) return;
  w.fullAt = nowMs();
  if (++fullCount === workers.length) send({ type: 'full', at: workers.map((x) => x.fullAt!) });
}

async function start(url: string, ids: string[]): Promise<void> {
  workers = await Promise.all(
    ids.map(async (name) => {
      const nc = await connect({ servers: url, name, maxReconnectAttempts: -1 });
      const buckets = await openBuckets(nc);
      const mirrors = startClusterMirrors(buckets, counting);
      return { nc, mirrors };
    }),
  );
  await Promise.all(workers.flatMap((w) => allMirrors(w.mirrors).map((m) => m.ready)));
  const at = nowMs();
  send({ type: 'ready', at: workers.map(() => at) });
  for (const w of workers) for (const m of allMirrors(w.mirrors)) m.onChange(() => checkFull(w));
}

function watch(key: string, revision: number): void {
  const at: (number | undefined)[] = workers.map(() => undefined);
  const offs: (() => void)[] = [];
  const done = () => {
    if (at.some((x) => x === undefined)) return;
    for (const off of offs) off();
    send({ type: 'seen', key, at: at as number[] });
  };
  workers.forEach((w, i) => {
    if ((w.mirrors.services.revision(key) ?? 0) >= revision) at[i] = nowMs();
    else
      offs.push(
        w.mirrors.services.onChange((c) => {
          if (at[i] === undefined && c.key === key && c.revision >= revision) {
            at[i] = nowMs();
            done();
          }
        }),
      );
  });
  done();
}

async function stop(): Promise<void> {
  for (const w of workers) for (const m of allMirrors(w.mirrors)) m.stop();
  await Promise.all(workers.map((w) => w.nc.close().catch(() => undefined)));
  // Exit only once the message is out (an exit right after send() can drop it).
  process.send!({ type: 'stopped', warnings } satisfies FromHost, undefined, {}, () => process.exit(0));
}

process.on('message', (m: ToHost) => {
  const run = async () => {
    if (m.type === 'start') {
      expect = m.expect;
      await start(m.url, m.workers);
    } else if (m.type === 'watch') watch(m.key, m.revision);
    else if (m.type === 'stop') await stop();
  };
  run().catch((err: unknown) => send({ type: 'error', message: (err as Error).stack ?? String(err) }));
});
process.on('disconnect', () => process.exit(0));
