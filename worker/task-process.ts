import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import type { SandboxFiles } from './sandbox.js';
import { resolveTaskUser, setprivArgv, type TaskUser } from '../core/task-user.js';

/** How a task process ended; exitCode is unknown for adopted processes (not our children). */
export interface ProcessExit {
  exitCode: number | undefined;
  signal: string | undefined;
  /** A container the kernel's OOM killer ended (its memory limit reached). */
  oomKilled?: boolean;
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
 * The shell step that runs as pid 1 of the task's own pid namespace, in its new mount and UTS
 * namespaces: it shows the task's own resolv.conf and hosts, sets the hostname to the task name
 * (written to the kernel directly: the `hostname` tool refuses the underscore in
 * `<stack>_<svc>.<slot>`), hides each masked directory (meshd's state and run dirs, a dev
 * cluster's home) under an empty read-only tmpfs, gives the task a /dev of its own with only the
 * harmless devices (no disks), then runs the command (setpriv: bounding set, user) as its child
 * and exits with its status. pid 1 ignores signals it has no handler for, so the command is not
 * pid 1: a SIGTERM to the process group reaches it as it would without the pid namespace. Values
 * come in as positional parameters, never as code.
 */
export const SANDBOX_EXEC = [
  'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && printf %s "$3" > /proc/sys/kernel/hostname || exit 126',
  'n=$4; shift 4',
  'while [ "$n" -gt 0 ]; do',
  '  if [ -d "$1" ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec,mode=0755,size=4k meshd-masked "$1" || exit 126; fi',
  '  shift; n=$((n - 1))',
  'done',
  'mount -t tmpfs -o nosuid,noexec,mode=0755,size=64k meshd-dev /dev && cd /dev &&' +
    ' mknod -m 666 null c 1 3 && mknod -m 666 zero c 1 5 && mknod -m 666 full c 1 7 && mknod -m 666 random c 1 8 &&' +
    ' mknod -m 666 urandom c 1 9 && mknod -m 666 tty c 5 0 && ln -s /proc/self/fd fd && ln -s /proc/self/fd/0 stdin &&' +
    ' ln -s /proc/self/fd/1 stdout && ln -s /proc/self/fd/2 stderr && mkdir shm &&' +
    ' mount -t tmpfs -o nosuid,nodev,noexec,mode=1777 shm /dev/shm && cd / || exit 126',
  '"$@" &',
  'wait $!',
].join('\n');

export interface StartTaskOptions {
  files: SandboxFiles;
  hostname: string;
  argv: readonly string[];
  env: Record<string, string>;
  /** Directories the task must not see (hidden under an empty tmpfs in its mount namespace). */
  masks: readonly string[];
  /** Run as this user (compose `user:`); root when absent. */
  user?: TaskUser;
}

/**
 * The whole argv: nsenter into the task's network namespace, then unshare mount, UTS and pid
 * (`--fork`: the pid we hold is unshare's, which waits for the task's pid 1 and exits with its
 * status; `--kill-child`: if unshare is killed, the task goes with it).
 */
export function taskLaunchArgv(opts: Omit<StartTaskOptions, 'env'>): string[] {
  return [
    'nsenter',
    `--net=${opts.files.netns}`,
    '--',
    'unshare',
    '--mount',
    '--uts',
    '--pid',
    '--fork',
    '--mount-proc',
    '--kill-child=SIGKILL',
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
    String(opts.masks.length),
    ...opts.masks,
    ...setprivArgv(opts.user),
    ...opts.argv,
  ];
}

export async function startTaskProcess(opts: StartTaskOptions): Promise<TaskProcess> {
  const log = await open(opts.files.log, 'a');
  const [cmd, ...args] = taskLaunchArgv(opts);
  const child = spawn(cmd!, args, {
    detached: true,
    cwd: '/',
    stdio: ['ignore', log.fd, log.fd],
    env: { PATH: DEFAULT_PATH, HOME: opts.user?.home ?? '/root', ...opts.env },
  });
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

/**
 * argv that runs `argv` inside a running task (health checks, `meshctl task exec`): its network,
 * mount, UTS and pid namespaces (`pid` is the process we hold, unshare, whose children live in
 * the task's pid namespace), with the task's capabilities and user.
 */
export function taskEnterArgv(pid: number, argv: readonly string[], user?: TaskUser): string[] {
  return ['nsenter', `--target=${pid}`, '--net', '--mount', '--uts', `--pid=/proc/${pid}/ns/pid_for_children`, '--', ...setprivArgv(user), ...argv];
}

/**
 * argv that runs `argv` inside a running container (health checks, `meshctl task exec`): the
 * namespaces, root and working directory of its main process `pid`, and its uid and gid. The
 * container's own tools run (nothing of the node's is needed inside it).
 */
export async function containerEnterArgv(pid: number, argv: readonly string[]): Promise<string[]> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? '0';
  const gid = /^Gid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? '0';
  return ['nsenter', `--target=${pid}`, '--mount', '--uts', '--ipc', '--net', '--pid', '--root', '--wd', `--setuid=${uid}`, `--setgid=${gid}`, '--', ...argv];
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

/** The stop signal (compose `stop_signal`, SIGTERM by default) to the task's process group, SIGKILL after the grace period; resolves when it exited. */
export async function stopTaskProcess(proc: TaskProcess, opts: { graceMs: number; signal: string }): Promise<ProcessExit> {
  const graceMs = opts.graceMs;
  signalGroup(proc.pid, opts.signal as NodeJS.Signals);
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

/** The compose `user:` against this node's /etc/passwd and /etc/group (as Docker resolves it). */
export async function resolveUserOnNode(spec: string): Promise<TaskUser> {
  const [passwd, group] = await Promise.all(['/etc/passwd', '/etc/group'].map((f) => readFile(f, 'utf8').catch(() => '')));
  const r = resolveTaskUser(spec, { passwd: passwd!, group: group! });
  if (!r.ok) throw new Error(`user ${JSON.stringify(spec)}: ${r.message} on this node`);
  return r.value;
}
