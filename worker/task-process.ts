import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import type { SandboxFiles } from './sandbox.js';

/** How a task process ended; exitCode is unknown for adopted processes (not our children). */
export interface ProcessExit {
  exitCode: number | undefined;
  signal: string | undefined;
}

/** A running task process: started by us, or adopted after a meshd restart. */
export interface TaskProcess {
  pid: number;
  /** Kernel start time (clock ticks since boot), to tell our process from a reused pid. */
  startTicks: number;
  exited: Promise<ProcessExit>;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The shell step that runs inside the new mount and UTS namespaces: it shows the task's own
 * resolv.conf and hosts, sets the hostname to the task name (written to the kernel directly: the
 * `hostname` tool refuses the underscore in `<stack>_<svc>.<slot>`), then execs the command, so the
 * pid we hold is the command's own. Values come in as positional parameters, never as code.
 */
const SANDBOX_EXEC =
  'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && printf %s "$3" > /proc/sys/kernel/hostname && shift 3 && exec "$@"';

export async function startTaskProcess(opts: {
  files: SandboxFiles;
  hostname: string;
  argv: readonly string[];
  env: Record<string, string>;
}): Promise<TaskProcess> {
  const log = await open(opts.files.log, 'a');
  const child = spawn(
    'nsenter',
    [
      `--net=${opts.files.netns}`,
      '--',
      'unshare',
      '--mount',
      '--uts',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      SANDBOX_EXEC,
      'meshd-task',
      opts.files.resolvConf,
      opts.files.hosts,
      opts.hostname,
      ...opts.argv,
    ],
    { detached: true, stdio: ['ignore', log.fd, log.fd], env: { PATH: DEFAULT_PATH, HOME: '/root', ...opts.env } },
  );
  await log.close();
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ exitCode: code ?? undefined, signal: signal ?? undefined }));
    child.once('error', () => resolve({ exitCode: 127, signal: undefined }));
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new Error(`could not start nsenter for task ${opts.hostname}`);
  }
  const startTicks = (await readStartTicks(pid)) ?? 0;
  return { pid, startTicks, exited };
}

/** Re-attaches to a task process left running by a previous meshd, if it is still that process. */
export async function adoptTaskProcess(pid: number, startTicks: number, pollMs = 200): Promise<TaskProcess | undefined> {
  if ((await readStartTicks(pid)) !== startTicks) return undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    const timer = setInterval(() => {
      void readStartTicks(pid).then((t) => {
        if (t !== startTicks) {
          clearInterval(timer);
          resolve({ exitCode: undefined, signal: undefined });
        }
      });
    }, pollMs);
  });
  return { pid, startTicks, exited };
}

/** The process's start time from /proc/<pid>/stat, or undefined if it is gone or a zombie. */
export async function readStartTicks(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

/** SIGTERM to the task's process group, SIGKILL after the grace period; resolves when it exited. */
export async function stopTaskProcess(proc: TaskProcess, graceMs: number): Promise<ProcessExit> {
  signalGroup(proc.pid, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(proc.pid, 'SIGKILL'), graceMs);
  try {
    return await proc.exited;
  } finally {
    clearTimeout(timer);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}
