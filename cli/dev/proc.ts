import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** Small /proc helpers: pid files, liveness that survives pid reuse, signalling, waiting. */

/** The pid in a pid file, or undefined when the file is missing or garbage. */
export async function readPidFile(file: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** How long a live process may show an empty cmdline before we call it not ours (it is mid-exec). */
const EXEC_WINDOW_MS = 2_000;

/**
 * argv of a running process, or undefined when it is gone, a zombie or a kernel thread. A process
 * in the middle of execve (nsenter becoming meshd) briefly shows an empty cmdline: that is read
 * again until the new program's argv is there, not taken for an exit.
 */
export async function cmdlineOf(pid: number): Promise<string[] | undefined> {
  const deadline = Date.now() + EXEC_WINDOW_MS;
  for (;;) {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
    if (raw === undefined) return undefined;
    if (raw.length > 0) return raw.replace(/\0$/, '').split('\0');
    const st = await procState(pid);
    const kernelThread = pid === 2 || st?.ppid === 2;
    if (!st || st.state === 'Z' || st.state === 'X' || kernelThread || Date.now() >= deadline) return undefined;
    await sleep(5);
  }
}

/** The process state letter from /proc/<pid>/stat, or undefined when the pid does not exist. */
export interface ProcState {
  state: string;
  ppid: number;
  pgrp: number;
}

export async function procState(pid: number): Promise<ProcState | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', ppid: Number(rest[1]), pgrp: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

/** True while the pid exists and is not a zombie (a zombie holds no namespace and runs nothing). */
export async function isRunning(pid: number): Promise<boolean> {
  const st = await procState(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X';
}

/** True when `argv` contains `flag` immediately followed by `value`. */
export function hasFlag(argv: readonly string[], flag: string, value: string): boolean {
  for (let i = 0; i + 1 < argv.length; i++) if (argv[i] === flag && argv[i + 1] === value) return true;
  return false;
}

/** Sends a signal; false when the process (or group, for negative pid) is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Polls until none of `pids` is running; returns those still running at the deadline. */
export async function waitForExit(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = [...pids];
  for (;;) {
    const next: number[] = [];
    for (const pid of alive) if (await isRunning(pid)) next.push(pid);
    alive = next;
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await sleep(50);
  }
}

/** This process and every ancestor up to init: never signal these (meshctl may run in the underlay). */
export async function selfAndAncestors(): Promise<Set<number>> {
  const out = new Set<number>();
  let pid = process.pid;
  while (pid > 1 && !out.has(pid)) {
    out.add(pid);
    const st = await procState(pid);
    if (!st) break;
    pid = st.ppid;
  }
  return out;
}
