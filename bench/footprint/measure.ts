/**
 * Footprint of the real daemons on the dev cluster: RSS sampled over a window, CPU over the same
 * window (the process and the tools it ran and waited for), and the processes a worker spawns,
 * counted with strace on a separate window.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuTimes, rssBytes } from '../lib/cpu.js';
import { Daemon } from '../lib/proc.js';

/** The worker's data-plane resync period (worker/dataplane/reconciler.ts maxIntervalMs). */
export const RESYNC_MS = 5_000;

export interface ProcSample {
  label: string;
  rss: number[];
  /** CPU over the window (self + waited-for children), ms. */
  cpuMs: number;
  /** Of which the waited-for children (the tools it ran), ms. */
  childrenMs: number;
  windowMs: number;
}

/** Samples RSS every 500 ms and CPU over `windowMs` for every pid at once. */
export async function sampleProcs(procs: { label: string; pid: number }[], windowMs: number): Promise<ProcSample[]> {
  const cpu0 = await Promise.all(procs.map((p) => cpuTimes(p.pid)));
  const rss: number[][] = procs.map(() => []);
  const t0 = performance.now();
  while (performance.now() - t0 < windowMs) {
    const now = await Promise.all(procs.map((p) => rssBytes(p.pid)));
    now.forEach((v, i) => rss[i]!.push(v));
    await new Promise((r) => setTimeout(r, 500));
  }
  const elapsed = performance.now() - t0;
  const cpu1 = await Promise.all(procs.map((p) => cpuTimes(p.pid)));
  return procs.map((p, i) => ({
    label: p.label,
    rss: rss[i]!,
    cpuMs: cpu1[i]!.self + cpu1[i]!.children - (cpu0[i]!.self + cpu0[i]!.children),
    childrenMs: cpu1[i]!.children - cpu0[i]!.children,
    windowMs: elapsed,
  }));
}

/** The nats-server a manager's meshd runs as its child. */
export async function natsChildOf(meshdPid: number): Promise<number | undefined> {
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) === 'nats-server' && Number(stat.slice(close + 2).split(' ')[1]) === meshdPid) return Number(e);
  }
  return undefined;
}

export interface SpawnCount {
  processes: number;
  byTool: Record<string, number>;
  /** Bursts of process starts (a sync runs its tools back to back; syncs are seconds apart). */
  bursts: number;
  /** Mean time between the starts of consecutive bursts, ms (undefined with fewer than 2). */
  periodMs?: number;
  windowMs: number;
}

/** A gap this long between two process starts separates two syncs. */
const BURST_GAP_MS = 1_000;

/**
 * Processes `pid` and its descendants started during `windowMs` (successful execve, one per
 * process; nsenter execs the tool it runs, so the last exec names the process), grouped into
 * bursts, one per sync.
 */
export async function countSpawnedWithStrace(pid: number, windowMs: number): Promise<SpawnCount> {
  const out = join(tmpdir(), `meshd-bench-strace-${process.pid}-${pid}.txt`);
  const strace = await Daemon.start('strace', ['strace', '-f', '-qq', '-ttt', '-e', 'trace=execve', '-o', out, '-p', String(pid)]);
  try {
    await new Promise((r) => setTimeout(r, windowMs));
  } finally {
    await strace.stop();
  }
  try {
    const tool = new Map<number, string>();
    const started = new Map<number, number>();
    for (const line of (await readFile(out, 'utf8')).split('\n')) {
      const m = /^(\d+)\s+([\d.]+)\s+execve\("([^"]+)".*= 0$/.exec(line);
      if (!m || Number(m[1]) === pid) continue;
      const p = Number(m[1]);
      tool.set(p, m[3]!.split('/').pop()!);
      if (!started.has(p)) started.set(p, Number(m[2]) * 1000);
    }
    const byTool: Record<string, number> = {};
    for (const t of tool.values()) byTool[t] = (byTool[t] ?? 0) + 1;
    const times = [...started.values()].sort((a, b) => a - b);
    const burstStarts = times.filter((t, i) => i === 0 || t - times[i - 1]! > BURST_GAP_MS);
    const periodMs = burstStarts.length >= 2 ? (burstStarts.at(-1)! - burstStarts[0]!) / (burstStarts.length - 1) : undefined;
    return { processes: tool.size, byTool, bursts: burstStarts.length, periodMs, windowMs };
  } finally {
    await rm(out, { force: true });
  }
}
