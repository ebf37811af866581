/**
 * The container engine: Debian's podman, rootful, driven by its CLI (DESIGN.md section 9). What
 * works on this node is found at start-up (`detectPodman`) and reported, never assumed: which OCI
 * runtime, which cgroup manager, which storage driver, what open-files limit a container may have.
 * Each node keeps its own image store under meshd's state dir.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../core/exec.js';
import { MeshError } from '../../core/errors.js';
import { readStartTicks, type ProcessExit, type TaskProcess } from '../task-process.js';
import {
  createArgv,
  imageExistsArgv,
  inspectArgv,
  isLatest,
  listArgv,
  loadArgv,
  pullArgv,
  removeArgv,
  startArgv,
  stopArgv,
  LABEL,
  podmanGlobalArgs,
  type ContainerSpec,
  type PodmanSetup,
} from './podman-argv.js';

export interface DetectOptions {
  stateDir: string;
  runDir: string;
  insecureRegistries?: readonly string[];
  /** PATH lookup is by `which`; tests may point elsewhere. */
  binary?: string;
}

/** Why this node has no engine (reported as its capability), or the setup that works here. */
export type Detection = { ok: true; setup: PodmanSetup } | { ok: false; reason: string };

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function which(name: string): Promise<string | undefined> {
  const res = await run(['sh', '-c', `command -v ${name}`], { okExitCodes: [0, 1, 127] });
  const path = res.stdout.trim();
  return res.exitCode === 0 && path ? path : undefined;
}

/** meshd's own open-files limit (/proc/self/limits): no container may exceed it. */
export async function ownNofile(): Promise<{ soft: number; hard: number }> {
  const text = await readFile('/proc/self/limits', 'utf8');
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  const n = (v: string | undefined) => (v === undefined || v === 'unlimited' ? 1_048_576 : Number(v));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/**
 * Finds podman and how to drive it here. The OCI runtime: runc when installed (Docker's default;
 * crun refuses hybrid cgroup v1 layouts), else crun. cgroups: systemd's manager only when systemd
 * runs the machine. Storage: overlay where the kernel mounts it on the store's filesystem, else vfs.
 */
export async function detectPodman(opts: DetectOptions): Promise<Detection> {
  const binary = opts.binary ?? (await which('podman'));
  if (!binary) return { ok: false, reason: 'podman is not installed' };
  const version = await run([binary, '--version'], { okExitCodes: [0, 1, 125, 127] });
  if (version.exitCode !== 0) return { ok: false, reason: `podman --version failed: ${version.stderr.trim()}` };
  const runtime = (await which('runc')) ?? (await which('crun'));
  if (!runtime) return { ok: false, reason: 'no OCI runtime (runc or crun) is installed' };
  const cgroupManager = (await exists('/run/systemd/system')) ? 'systemd' : 'cgroupfs';
  const base = {
    binary,
    version: version.stdout.trim().replace(/^podman version /, ''),
    root: join(opts.stateDir, 'containers', 'storage'),
    runroot: join(opts.runDir, 'containers'),
    runtime,
    cgroupManager,
    nofile: await ownNofile(),
    insecureRegistries: opts.insecureRegistries ?? [],
  } as const;
  const problems: string[] = [];
  for (const storageDriver of ['overlay', 'vfs']) {
    const setup: PodmanSetup = { ...base, storageDriver };
    // `podman info` sets up the store: it fails when the driver cannot work on this filesystem.
    const info = await run([binary, ...podmanGlobalArgs(setup), 'info', '--format', '{{.Store.GraphDriverName}}'], { okExitCodes: [0, 125], timeoutMs: 60_000 });
    if (info.exitCode === 0 && info.stdout.trim() === storageDriver) return { ok: true, setup };
    problems.push(`${storageDriver}: ${info.stderr.trim().split('\n').at(-1) ?? `exit ${info.exitCode}`}`);
  }
  return { ok: false, reason: `podman cannot set up its store here (${problems.join('; ')})` };
}

/** A container's state as `podman container inspect` reports it (the fields we read). */
export interface ContainerState {
  id: string;
  running: boolean;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  /** Labels, to tell our containers (and their task) apart. */
  labels: Record<string, string>;
}

/** Failures the supervisor shows to the operator as they are (`service ps` ERROR column). */
export class ImagePullError extends MeshError {}

/** One node's podman: pull, run, inspect, stop and remove the containers of its tasks. */
export class PodmanEngine {
  constructor(readonly setup: PodmanSetup) {}

  /**
   * The image in the store: pulled when missing, and pulled again when it is `:latest` (a
   * re-pull that fails then uses the copy the node has, as `docker service create` does when the
   * registry cannot be reached).
   */
  async ensureImage(image: string): Promise<void> {
    const have = (await run(imageExistsArgv(this.setup, image), { okExitCodes: [0, 1] })).exitCode === 0;
    if (have && !isLatest(image)) return;
    const pull = await run(pullArgv(this.setup, image), { okExitCodes: [0, 125], timeoutMs: 10 * 60_000 });
    if (pull.exitCode === 0 || have) return;
    throw new ImagePullError(`pulling ${image}: ${pullReason(pull.stderr)}`);
  }

  /** Creates and starts the task's container; a leftover of the same task is removed first. */
  async start(spec: ContainerSpec): Promise<{ containerId: string; proc: TaskProcess }> {
    await this.remove(spec.taskId);
    const created = await run(createArgv(this.setup, spec), { okExitCodes: [0, 125, 126, 127], timeoutMs: 120_000 });
    if (created.exitCode !== 0) throw new MeshError(`podman create: ${lastLine(created.stderr)}`);
    const containerId = created.stdout.trim();
    const started = await run(startArgv(this.setup, spec.taskId), { okExitCodes: [0, 125, 126, 127], timeoutMs: 120_000 });
    if (started.exitCode !== 0) throw new MeshError(`podman start: ${lastLine(started.stderr)}`);
    const state = await this.inspect(containerId);
    if (!state) throw new MeshError(`container ${containerId} vanished after start`);
    const proc = await this.watch(state);
    if (!proc) throw new MeshError(`container ${containerId} exited at once (exit code ${state.exitCode})`);
    return { containerId, proc };
  }

  /** Re-attaches to a container a previous meshd started: its process while it runs. */
  async adopt(containerId: string): Promise<{ proc?: TaskProcess; state?: ContainerState }> {
    const state = await this.inspect(containerId);
    if (!state) return {};
    return { proc: await this.watch(state), state };
  }

  async inspect(nameOrId: string): Promise<ContainerState | undefined> {
    const res = await run(inspectArgv(this.setup, nameOrId), { okExitCodes: [0, 125] });
    if (res.exitCode !== 0) return undefined;
    const [c] = JSON.parse(res.stdout) as { Id: string; State: { Running: boolean; Pid: number; ExitCode: number; OOMKilled: boolean }; Config: { Labels?: Record<string, string> } }[];
    if (!c) return undefined;
    return { id: c.Id, running: c.State.Running, pid: c.State.Pid, exitCode: c.State.ExitCode, oomKilled: c.State.OOMKilled, labels: c.Config.Labels ?? {} };
  }

  /** Task ids of every container of ours on this node. */
  async listTasks(nodeId: string): Promise<Map<string, string>> {
    const res = await run(listArgv(this.setup, nodeId));
    const rows = JSON.parse(res.stdout || '[]') as { Id: string; Labels?: Record<string, string> }[];
    return new Map(rows.flatMap((r) => (r.Labels?.[LABEL.task] ? [[r.Labels[LABEL.task]!, r.Id] as const] : [])));
  }

  /** The stop signal, SIGKILL after the grace period; resolves once it has exited. */
  async stop(taskId: string, graceMs: number): Promise<void> {
    await run(stopArgv(this.setup, taskId, graceMs), { okExitCodes: [0, 125], timeoutMs: graceMs + 60_000 });
  }

  async remove(taskId: string): Promise<void> {
    await run(removeArgv(this.setup, taskId), { okExitCodes: [0, 1, 125], timeoutMs: 120_000 });
  }

  async load(archive: string): Promise<string> {
    const res = await run(loadArgv(this.setup, archive), { timeoutMs: 10 * 60_000 });
    return res.stdout.trim();
  }

  /**
   * The container's main process as a task process: its exit noticed by polling /proc (it is
   * conmon's child, not ours), its exit code and OOM kill then read from podman.
   */
  private async watch(state: ContainerState, pollMs = 100): Promise<TaskProcess | undefined> {
    if (!state.running || state.pid <= 0) return undefined;
    const startTicks = await readStartTicks(state.pid);
    if (startTicks === undefined) return undefined;
    const exited = new Promise<ProcessExit>((resolve) => {
      const timer = setInterval(() => {
        void readStartTicks(state.pid).then(async (t) => {
          if (t === startTicks) return;
          clearInterval(timer);
          const after = await this.waitStopped(state.id);
          resolve({ exitCode: after?.exitCode, signal: undefined, ...(after?.oomKilled && { oomKilled: true }) });
        });
      }, pollMs);
    });
    return { pid: state.pid, startTicks, exited };
  }

  /** podman records the exit a moment after the process is gone (conmon writes it). */
  private async waitStopped(id: string): Promise<ContainerState | undefined> {
    for (let i = 0; i < 50; i++) {
      const s = await this.inspect(id);
      if (!s || !s.running) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.inspect(id);
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.replace(/^Error: /, '') ?? '';
}

/** podman's pull error, shortened to what an operator acts on. */
export function pullReason(stderr: string): string {
  const text = stderr.trim();
  if (/manifest unknown|not found|no such image|name unknown/i.test(text)) return 'no such image';
  if (/unauthorized|authentication required|denied/i.test(text)) return 'unauthorized';
  if (/connection refused/i.test(text)) return 'connection refused';
  if (/no such host|lookup .* on/i.test(text)) return 'registry host not found';
  if (/http: server gave HTTP response to HTTPS client/i.test(text)) return 'registry speaks plain HTTP (meshd --insecure-registry HOST:PORT)';
  return lastLine(text);
}
