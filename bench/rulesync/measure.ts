/**
 * Rule sync at scale for one LB backend (see appliers.ts): a full sync of SERVICES x BACKENDS,
 * its periodic re-sync, then adding one service to BIG existing ones. Backend-agnostic, so the
 * VM lane runs it for IPVS; returns raw numbers only (rulesync/report.ts makes the tables).
 */
import { readFileSync } from 'node:fs';
import type { LbDesired } from '../../lb/model.js';
import type { BenchApplier } from './appliers.js';
import { syntheticDesired, syntheticService } from './fixtures.js';
import { countSpawns } from './spawn-count.js';

export interface SyncSample {
  /** Wall time of one apply (plan + tools), ms. */
  ms: number;
  /** CPU of the tools it ran (waited-for children), ms, user and system; 10 ms resolution. */
  toolUserMs: number;
  toolSysMs: number;
  /** CPU of this process (planning, parsing), ms. */
  selfCpuMs: number;
}

export interface RuleSyncResult {
  backend: 'nftables' | 'ipvs';
  services: number;
  backends: number;
  bigServices: number;
  /** First sync of `services` x `backends` into an empty namespace. */
  cold: SyncSample;
  /** Full re-syncs of the same state (the periodic resync). */
  full: SyncSample[];
  /** First sync of `bigServices` (the state the incremental case starts from); absent if skipped. */
  bigCold?: SyncSample;
  /** Adding one service to `bigServices` (+ the ones added before) existing. */
  addOne: SyncSample[];
  /** Processes spawned by one full re-sync and by one add-one sync (at `services`), by tool. */
  spawnsFull: Record<string, number>;
  spawnsAddOne: Record<string, number>;
  /** Services the kernel held after the last sync (read back). */
  kernelServices?: number;
}

const TICK_MS = 10;

/** Waited-for children's CPU of this process (utime, stime), ms. */
function childrenCpu(): { user: number; sys: number } {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[13]) * TICK_MS, sys: Number(f[14]) * TICK_MS };
}

async function timed(applier: BenchApplier, netns: string, desired: LbDesired): Promise<SyncSample> {
  const cpu0 = process.cpuUsage();
  const child0 = childrenCpu();
  const t0 = performance.now();
  await applier.apply(netns, desired);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const child = childrenCpu();
  return { ms, toolUserMs: child.user - child0.user, toolSysMs: child.sys - child0.sys, selfCpuMs: (cpu.user + cpu.system) / 1000 };
}

const plus = (d: LbDesired, from: number, count: number, backends: number): LbDesired => ({
  ...d,
  services: [...d.services, ...Array.from({ length: count }, (_, k) => syntheticService(from + k, backends))],
});

export interface RuleSyncOptions {
  /**
   * A new applier, as a freshly started worker has: it knows nothing it wrote, so its first sync
   * of a namespace is a full one (nftables replaces the table). Add-one syncs reuse the applier
   * that made the big state, as a running worker does (nftables then sends only the difference).
   */
  newApplier: () => BenchApplier;
  netns: string;
  services: number;
  backends: number;
  bigServices: number;
  /** Full re-syncs measured. */
  reps: number;
  /** Add-one syncs measured at `bigServices` (0 skips the big state). */
  addReps: number;
  countKernel?: () => Promise<number>;
  log?: (line: string) => void;
}

export async function measureRuleSync(o: RuleSyncOptions): Promise<RuleSyncResult> {
  const log = o.log ?? (() => undefined);
  const name = o.newApplier().name;
  const state = syntheticDesired(o.services, o.backends);
  log(`${name}: first sync of ${o.services} x ${o.backends}`);
  const cold = await timed(o.newApplier(), o.netns, state);
  const full: SyncSample[] = [];
  for (let i = 0; i < o.reps; i++) full.push(await timed(o.newApplier(), o.netns, state));
  const spawnsFull = (await countSpawns(() => o.newApplier().apply(o.netns, state))).byTool;
  const running = o.newApplier();
  await running.apply(o.netns, state);
  const spawnsAddOne = (await countSpawns(() => running.apply(o.netns, plus(state, o.services, 1, o.backends)))).byTool;

  let bigCold: SyncSample | undefined;
  const addOne: SyncSample[] = [];
  if (o.addReps > 0) {
    const big = syntheticDesired(o.bigServices, o.backends);
    const applier = o.newApplier();
    log(`${name}: first sync of ${o.bigServices} x ${o.backends}`);
    bigCold = await timed(applier, o.netns, big);
    // Each repetition adds one more service (10,000 existing, then 10,001, ...).
    for (let i = 1; i <= o.addReps; i++) {
      log(`${name}: adding service ${o.bigServices + i}`);
      addOne.push(await timed(applier, o.netns, plus(big, o.bigServices, i, o.backends)));
    }
  }
  const kernelServices = o.countKernel ? await o.countKernel() : undefined;
  log(`${name}: done`);
  return { backend: name, services: o.services, backends: o.backends, bigServices: o.bigServices, cold, full, bigCold, addOne, spawnsFull, spawnsAddOne, kernelServices };
}
