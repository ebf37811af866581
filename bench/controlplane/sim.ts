/**
 * The control-plane simulation, run inside a namespace the bench creates (controlplane/row.ts):
 * a real nats-server with JetStream (the project's EmbeddedNats), the buckets as managers create
 * them, W simulated workers spread over H forked processes (sim-worker.ts), then
 *   1. SERVICES services (1 replica each, on 10 overlays), their tasks and LB addresses written
 *      as the deployer and scheduler write them -> when every worker holds all of it;
 *   2. CHANGES single-service updates -> when every worker has each one.
 * Prints one JSON line (SimResult) on stdout.
 *
 *   node --import tsx bench/controlplane/sim.ts STATE_DIR WORKERS SERVICES CHANGES HOSTS
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'nats';
import { EmbeddedNats } from '../../manager/nats-server.js';
import { createLogger } from '../../core/log.js';
import { openBuckets, type Buckets } from '../../core/state/buckets.js';
import { encode } from '../../core/state/codec.js';
import { syntheticCluster } from '../lib/records.js';
import { cpuTimes } from '../lib/cpu.js';
import { nowMs, type Expect, type FromHost, type ToHost } from './protocol.js';

export interface SimResult {
  workers: number;
  hosts: number;
  services: number;
  records: Expect;
  /** Fork to every worker connected with its mirrors' first snapshot, ms. */
  readyMs: number;
  /** First write to last write acknowledged, ms. */
  writeMs: number;
  /** Per worker: first write -> it held the full desired state, ms. */
  fullMs: number[];
  /** Per change: put -> the last worker had it, and the median worker, ms. */
  changeMaxMs: number[];
  changeMedianMs: number[];
  /** CPU (% of one core) of nats-server and of the worker hosts while idle with everything held. */
  idleCpu: { natsPct: number; hostsPct: number; seconds: number };
  warnings: Record<string, number>;
}

const [stateDir, workersArg, servicesArg, changesArg, hostsArg] = process.argv.slice(2);
if (!stateDir || !workersArg || !servicesArg || !changesArg || !hostsArg) throw new Error('usage: sim STATE_DIR WORKERS SERVICES CHANGES HOSTS');
const STATE_DIR: string = stateDir;
const W = Number(workersArg);
const S = Number(servicesArg);
const CHANGES = Number(changesArg);
const H = Math.max(1, Math.min(Number(hostsArg), W));
const WRITE_CONCURRENCY = 64;
const FULL_TIMEOUT_MS = 300_000;
const log = (l: string) => process.stderr.write(`sim: ${l}\n`);

async function writeAll(items: [string, unknown][], put: (k: string, v: Uint8Array) => Promise<number>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const [k, v] = items[next++]!;
      await put(k, encode(v));
    }
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, lane));
}

/** Waits for one message of `type` from every host. */
function fromAll<T extends FromHost['type']>(hosts: ChildProcess[], type: T, timeoutMs: number, match?: (m: Extract<FromHost, { type: T }>) => boolean): Promise<Extract<FromHost, { type: T }>[]> {
  return new Promise((resolve, reject) => {
    const got = new Map<ChildProcess, Extract<FromHost, { type: T }>>();
    const offs: (() => void)[] = [];
    const timer = setTimeout(() => finish(new Error(`no '${type}' from ${hosts.length - got.size} of ${hosts.length} hosts after ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      for (const off of offs) off();
      if (err) reject(err);
      else resolve(hosts.map((h) => got.get(h)!));
    };
    for (const h of hosts) {
      const onMsg = (m: FromHost) => {
        if (m.type === 'error') return finish(new Error(`worker host: ${m.message}`));
        if (m.type !== type || (match && !match(m as Extract<FromHost, { type: T }>))) return;
        got.set(h, m as Extract<FromHost, { type: T }>);
        if (got.size === hosts.length) finish();
      };
      const onExit = (code: number | null) => finish(new Error(`worker host exited (${code}) while waiting for '${type}'`));
      h.on('message', onMsg);
      h.on('exit', onExit);
      offs.push(() => h.off('message', onMsg), () => h.off('exit', onExit));
    }
  });
}

/** The nats-server child of this process (EmbeddedNats starts it through setpriv, which execs). */
async function natsPid(): Promise<number | undefined> {
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) === 'nats-server' && Number(stat.slice(close + 2).split(' ')[1]) === process.pid) return Number(e);
  }
  return undefined;
}

async function main(): Promise<SimResult> {
  const nats = new EmbeddedNats({ serverName: 'bench-sim', host: '127.0.0.1', clientPort: 4222, clusterPort: 6222, peers: [], stateDir: STATE_DIR, log: createLogger({ level: 'warn' }) });
  await nats.start();
  const hosts: ChildProcess[] = [];
  try {
    const nc = await connect({ servers: nats.url });
    const buckets: Buckets = await openBuckets(nc, { create: { replicas: 1 } });
    const c = syntheticCluster({ services: S, replicas: 1, nodes: W, networks: 10 });
    const expect: Expect = { networks: c.networks.length, services: c.services.length, tasks: c.tasks.length, lbaddrs: c.lbaddrs.length };
    // Nodes registered first, as workers join before anything is deployed.
    await writeAll(c.nodes.map((n) => [n.id, n]), (k, v) => buckets.nodes.put(k, v));

    const t0 = nowMs();
    const ids = c.nodes.map((n) => n.id);
    for (let h = 0; h < H; h++) {
      const child = fork(join(import.meta.dirname, 'sim-worker.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      hosts.push(child);
      child.send({ type: 'start', url: nats.url, workers: ids.filter((_, i) => i % H === h), expect } satisfies ToHost);
    }
    await fromAll(hosts, 'ready', 120_000);
    const readyMs = nowMs() - t0;
    log(`${W} workers ready in ${Math.round(readyMs)} ms`);

    const full = fromAll(hosts, 'full', FULL_TIMEOUT_MS);
    const w0 = nowMs();
    await writeAll(c.networks.map((n) => [n.id, n]), (k, v) => buckets.networks.put(k, v));
    await writeAll(c.services.map((s) => [s.id, s]), (k, v) => buckets.services.put(k, v));
    await writeAll(c.tasks.map((t) => [`${t.nodeId}.${t.id}`, t]), (k, v) => buckets.tasks.put(k, v));
    await writeAll(c.lbaddrs.map((l) => [`${l.networkId}.${l.nodeId}`, l]), (k, v) => buckets.lbaddrs.put(k, v));
    const writeMs = nowMs() - w0;
    const fullMs = (await full).flatMap((m) => m.at.map((at) => at - w0));
    log(`full state written in ${Math.round(writeMs)} ms, held by every worker after ${Math.round(Math.max(...fullMs))} ms`);

    const changeMaxMs: number[] = [];
    const changeMedianMs: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const svc = c.services[(i * 37) % c.services.length]!;
      const changed = { ...svc, version: svc.version + i + 1, updatedAt: new Date().toISOString() };
      const t = nowMs();
      const revision = await buckets.services.put(svc.id, encode(changed));
      const seen = fromAll(hosts, 'seen', 60_000, (m) => m.key === svc.id);
      for (const h of hosts) h.send({ type: 'watch', key: svc.id, revision } satisfies ToHost);
      const at = (await seen).flatMap((m) => m.at).map((x) => x - t).sort((a, b) => a - b);
      changeMaxMs.push(at[at.length - 1]!);
      changeMedianMs.push(at[Math.floor(at.length / 2)]!);
    }

    // Idle with everything held: what the watches' stall checks and heartbeats-free mirrors cost.
    const natsProc = await natsPid();
    const idleS = 5;
    const cpu0 = await Promise.all([...(natsProc ? [natsProc] : []), ...hosts.map((h) => h.pid!)].map(cpuTimes));
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const cpu1 = await Promise.all([...(natsProc ? [natsProc] : []), ...hosts.map((h) => h.pid!)].map(cpuTimes));
    const used = cpu1.map((x, i) => x.self - cpu0[i]!.self);
    const natsUsed = natsProc ? used[0]! : NaN;
    const hostsUsed = used.slice(natsProc ? 1 : 0).reduce((a, b) => a + b, 0);

    const stopped = fromAll(hosts, 'stopped', 60_000);
    for (const h of hosts) h.send({ type: 'stop' } satisfies ToHost);
    const warnings: Record<string, number> = {};
    for (const m of await stopped) for (const [k, v] of Object.entries(m.warnings)) warnings[k] = (warnings[k] ?? 0) + v;
    await nc.close();
    return {
      workers: W,
      hosts: H,
      services: S,
      records: expect,
      readyMs,
      writeMs,
      fullMs,
      changeMaxMs,
      changeMedianMs,
      idleCpu: { natsPct: natsUsed / (idleS * 10), hostsPct: hostsUsed / (idleS * 10), seconds: idleS },
      warnings,
    };
  } finally {
    for (const h of hosts) if (h.exitCode === null) h.kill('SIGKILL');
    await nats.stop();
  }
}

main().then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    log((err as Error).stack ?? String(err));
    process.exit(1);
  },
);
