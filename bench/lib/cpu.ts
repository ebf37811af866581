/** CPU time of a process (and of its waited-for children) from /proc, for CPU-use figures. */
import { readFile } from 'node:fs/promises';

const TICK_MS = 10;

export interface CpuTimes {
  /** utime + stime, ms. */
  self: number;
  /** cutime + cstime (children it has waited for), ms. */
  children: number;
}

export async function cpuTimes(pid: number): Promise<CpuTimes> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { self: (Number(f[11]) + Number(f[12])) * TICK_MS, children: (Number(f[13]) + Number(f[14])) * TICK_MS };
}

/** Resident set size in bytes (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

/** Whole-machine CPU counters from /proc/stat (jiffies). */
export interface MachineCpu {
  busy: number;
  total: number;
}

export async function machineCpu(): Promise<MachineCpu> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Fraction of all CPUs busy between two readings (0..1). */
export function busyBetween(a: MachineCpu, b: MachineCpu): number {
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : Number.NaN;
}

/** This process's waited-for children's CPU (user + system), ms: the tools the bench ran. */
export async function childrenCpuMs(): Promise<number> {
  return (await cpuTimes(process.pid)).children;
}
