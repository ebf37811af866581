/**
 * The container engine: Debian's podman, rootful, driven by its CLI (DESIGN.md section 9). What
 * works on this node is found at start-up (`detectPodman`) and reported, never assumed: which OCI
 * runtime, which cgroup manager, which storage driver, what open-files limit a container may have.
 * Each node keeps its own image store under meshd's state dir.
 */
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { run } from '../../core/exec.js';
import { MeshError } from '../../core/errors.js';
import type { Healthcheck } from '../../core/model.js';
import { readStartTicks, type ProcessExit, type TaskProcess } from '../task-process.js';
import { oomKilledIn, readKernelLog } from './oom.js';
import {
  createArgv,
  imageExistsArgv,
  loadedImages,
  imageInspectArgv,
  inspectArgv,
  isLatest,
  listArgv,
  loadArgv,
  pullArgv,
  removeArgv,
  removeAllArgv,
  startArgv,
  stopArgv,
  LABEL,
  podmanGlobalArgs,
  type ContainerSpec,
  type PodmanBase,
  type PodmanSetup,
  type Rlimit,
} from './podman-argv.js';

export interface DetectOptions {
  stateDir: string;
  runDir: string;
  insecureRegistries?: readonly string[];
  /** PATH lookup is by `which`; tests may point elsewhere. */
  binary?: string;
}

/** Why this node has no engine (reported as its capability), or how to drive the one it has. */
export type Detection = { ok: true; base: PodmanBase } | { ok: false; reason: string };

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

/**
 * The rlimits a container may have here: meshd's own (/proc/self/limits; unlimited counts as
 * podman's default), nproc at most the kernel's pid_max.
 */
export async function containerLimits(): Promise<PodmanBase['limits']> {
  const text = await readFile('/proc/self/limits', 'utf8');
  const read = (name: string, fallback: number): Rlimit => {
    const m = new RegExp(`^${name}\\s+(\\d+|unlimited)\\s+(\\d+|unlimited)`, 'm').exec(text);
    const n = (v: string | undefined) => (v === undefined || v === 'unlimited' ? fallback : Number(v));
    return { soft: n(m?.[1]), hard: n(m?.[2]) };
  };
  const pidMax = Number((await readFile('/proc/sys/kernel/pid_max', 'utf8')).trim());
  const nproc = read('Max processes', 4_194_304);
  return { nofile: read('Max open files', 1_048_576), nproc: { soft: Math.min(nproc.soft, pidMax), hard: Math.min(nproc.hard, pidMax) } };
}

/** podman refuses a runroot longer than this (its sockets' paths live under it). */
export const MAX_RUNROOT = 50;

/**
 * Podman's run-time state: `<run dir>/containers`, or where that path is too long for podman (a
 * dev cluster's nodes), a short directory named by a hash of the run dir (stable across restarts,
 * so a restarted meshd finds its containers again).
 */
export function podmanRunroot(runDir: string): string {
  const own = join(runDir, 'containers');
  if (own.length <= MAX_RUNROOT) return own;
  return join(SHORT_RUNROOTS, runDirHash(runDir));
}

/** Where runroots too long for podman go instead (one directory per run dir). */
export const SHORT_RUNROOTS = '/run/meshd-containers';

function runDirHash(runDir: string): string {
  return createHash('sha256').update(runDir).digest('hex').slice(0, 16);
}

/**
 * The cgroup a node's containers and their conmon processes go under: `meshd` for a node's own
 * run dir (/run/meshd), `meshd-<hash of the run dir>` for any other (each dev-cluster node has its
 * own, so its teardown can remove it).
 */
export function podmanCgroupParent(runDir: string): string {
  return runDir === '/run/meshd' ? 'meshd' : `meshd-${runDirHash(runDir)}`;
}

/**
 * Finds podman and how to drive it here (cheap: one `podman --version`; the store is set up at
 * first use). The OCI runtime: runc when installed (Docker's default; crun refuses hybrid cgroup
 * v1 layouts), else crun. cgroups: systemd's manager only when systemd runs the machine.
 */
export async function detectPodman(opts: DetectOptions): Promise<Detection> {
  const binary = opts.binary ?? (await which('podman'));
  if (!binary) return { ok: false, reason: 'podman is not installed' };
  const version = await run([binary, '--version'], { okExitCodes: [0, 1, 125, 127] });
  if (version.exitCode !== 0) return { ok: false, reason: `podman --version failed: ${version.stderr.trim()}` };
  const runtime = (await which('runc')) ?? (await which('crun'));
  if (!runtime) return { ok: false, reason: 'no OCI runtime (runc or crun) is installed' };
  return {
    ok: true,
    base: {
      binary,
      version: version.stdout.trim().replace(/^podman version /, ''),
      root: join(opts.stateDir, 'containers', 'storage'),
      runroot: podmanRunroot(opts.runDir),
      cgroupParent: podmanCgroupParent(opts.runDir),
      runtime,
      cgroupManager: (await exists('/run/systemd/system')) ? 'systemd' : 'cgroupfs',
      limits: await containerLimits(),
      insecureRegistries: opts.insecureRegistries ?? [],
    },
  };
}

/**
 * The storage driver that works for this store: overlay where the kernel mounts it on the store's
 * filesystem, else vfs (`podman info` sets the store up and fails when the driver cannot work).
 */
export async function chooseStorage(base: PodmanBase): Promise<PodmanSetup> {
  const problems: string[] = [];
  for (const storageDriver of ['overlay', 'vfs']) {
    const setup: PodmanSetup = { ...base, storageDriver };
    const info = await run([base.binary, ...podmanGlobalArgs(setup), 'info', '--format', '{{.Store.GraphDriverName}}'], { okExitCodes: [0, 125], timeoutMs: 60_000 });
    if (info.exitCode === 0 && info.stdout.trim() === storageDriver) return setup;
    problems.push(`${storageDriver}: ${info.stderr.trim().split('\n').at(-1) ?? `exit ${info.exitCode}`}`);
  }
  throw new MeshError(`podman cannot set up its store at ${base.root} (${problems.join('; ')})`);
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
  private setupOnce: Promise<PodmanSetup> | undefined;

  constructor(readonly base: PodmanBase) {}

  /** The full setup, its store driver chosen at first use (and logged by the caller's errors). */
  setup(): Promise<PodmanSetup> {
    this.setupOnce ??= chooseStorage(this.base).catch((err: unknown) => {
      this.setupOnce = undefined;
      throw err;
    });
    return this.setupOnce;
  }

  /**
   * The image in the store: pulled when missing, and pulled again when it is `:latest` or the
   * service was deployed with `--resolve-image always` (a re-pull that fails then uses the copy the
   * node has, as `docker service create` does when the registry cannot be reached).
   */
  async ensureImage(image: string, opts: { auths?: Record<string, string>; always?: boolean } = {}): Promise<void> {
    const setup = await this.setup();
    const have = (await run(imageExistsArgv(setup, image), { okExitCodes: [0, 1] })).exitCode === 0;
    if (have && !isLatest(image) && !opts.always) return;
    const pull = await this.withAuthFile(opts.auths, (authFile) =>
      run(pullArgv(setup, image, { authFile }), { okExitCodes: [0, 125], timeoutMs: 10 * 60_000 }).catch((err: unknown) => ({
        exitCode: -1,
        stderr: `timed out or failed: ${err instanceof Error ? err.message : String(err)}`,
      })),
    );
    if (pull.exitCode === 0 || have) return;
    throw new ImagePullError(`pulling ${image}: ${pullReason(pull.stderr)}`);
  }

  /**
   * Runs `fn` with the logins in an auth file (podman's auth.json format) readable by root only,
   * under the node's podman runroot, removed as soon as `fn` is done.
   */
  private async withAuthFile<T>(auths: Record<string, string> | undefined, fn: (authFile: string | undefined) => Promise<T>): Promise<T> {
    if (!auths || Object.keys(auths).length === 0) return fn(undefined);
    const file = join(this.base.runroot, `meshd-pull-auth-${randomBytes(8).toString('hex')}.json`);
    await mkdir(this.base.runroot, { recursive: true, mode: 0o700 });
    await writeFile(file, JSON.stringify({ auths: Object.fromEntries(Object.entries(auths).map(([r, auth]) => [r, { auth }])) }), { mode: 0o600, flag: 'wx' });
    try {
      return await fn(file);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Loads an image archive into the node's store; returns the images it held. */
  async load(file: string): Promise<string[]> {
    const res = await run(loadArgv(await this.setup(), file), { okExitCodes: [0, 125], timeoutMs: 10 * 60_000 });
    if (res.exitCode !== 0) throw new MeshError(`podman load: ${lastLine(res.stderr)}`);
    return loadedImages(res.stdout);
  }

  /** Where an archive being loaded is written first: on disk beside the store, root only. */
  loadDir(): string {
    return join(dirname(this.base.root), 'image-load');
  }

  /** The image's HEALTHCHECK in the model's terms; undefined when it has none. */
  async imageHealthcheck(image: string): Promise<Healthcheck | undefined> {
    const res = await run(imageInspectArgv(await this.setup(), image));
    // podman 4 puts it at the top level (`Healthcheck`); Docker's own config keeps it in Config.
    const [img] = JSON.parse(res.stdout) as { Healthcheck?: ImageHealthcheck; Config?: { Healthcheck?: ImageHealthcheck } }[];
    const hc = img?.Healthcheck ?? img?.Config?.Healthcheck;
    return hc ? healthcheckFromImage(hc) : undefined;
  }

  /** Creates and starts the task's container; a leftover of the same task is removed first. */
  async start(spec: ContainerSpec): Promise<{ containerId: string; proc: TaskProcess }> {
    await this.remove(spec.taskId);
    const created = await run(createArgv(await this.setup(), spec), { okExitCodes: [0, 125, 126, 127], timeoutMs: 120_000 });
    if (created.exitCode !== 0) throw new MeshError(`podman create: ${lastLine(created.stderr)}`);
    const containerId = created.stdout.trim();
    const started = await run(startArgv(await this.setup(), spec.taskId), { okExitCodes: [0, 125, 126, 127], timeoutMs: 120_000 });
    if (started.exitCode !== 0) throw new MeshError(`podman start: ${lastLine(started.stderr)}`);
    const state = await this.inspect(containerId);
    if (!state) throw new MeshError(`container ${containerId} vanished after start`);
    // One that exited already (a one-shot job, an early crash) goes to the restart policy too.
    const proc = (await this.watch(state)) ?? exitedProcess(state);
    return { containerId, proc };
  }

  /** Re-attaches to a container a previous meshd started: its process while it runs. */
  async adopt(containerId: string, startTicks?: number): Promise<{ proc?: TaskProcess; state?: ContainerState }> {
    const state = await this.inspect(containerId);
    if (!state) return {};
    const proc = await this.watch(state);
    // Its process must be the one we saw start (not a pid reused since, with stale podman state).
    if (proc && startTicks !== undefined && startTicks > 0 && proc.startTicks !== startTicks) return { state: { ...state, running: false } };
    return { ...(proc && { proc }), state };
  }

  async inspect(nameOrId: string): Promise<ContainerState | undefined> {
    const res = await run(inspectArgv(await this.setup(), nameOrId), { okExitCodes: [0, 125] });
    if (res.exitCode !== 0) return undefined;
    const [c] = JSON.parse(res.stdout) as { Id: string; State: { Running: boolean; Pid: number; ExitCode: number; OOMKilled: boolean }; Config: { Labels?: Record<string, string> } }[];
    if (!c) return undefined;
    return { id: c.Id, running: c.State.Running, pid: c.State.Pid, exitCode: c.State.ExitCode, oomKilled: c.State.OOMKilled, labels: c.Config.Labels ?? {} };
  }

  /** Whether this node's store exists (it is made at the first image task). */
  hasStore(): Promise<boolean> {
    return exists(this.base.root);
  }

  /** Task ids of every container of ours on this node. */
  async listTasks(nodeId: string): Promise<Map<string, string>> {
    const res = await run(listArgv(await this.setup(), nodeId));
    const rows = JSON.parse(res.stdout || '[]') as { Id: string; Labels?: Record<string, string> }[];
    return new Map(rows.flatMap((r) => (r.Labels?.[LABEL.task] ? [[r.Labels[LABEL.task]!, r.Id] as const] : [])));
  }

  /** The stop signal, SIGKILL after the grace period; resolves once it has exited. */
  async stop(taskId: string, graceMs: number): Promise<void> {
    await run(stopArgv(await this.setup(), taskId, graceMs), { okExitCodes: [0, 125], timeoutMs: graceMs + 60_000 });
  }

  async remove(taskId: string): Promise<void> {
    await run(removeArgv(await this.setup(), taskId), { okExitCodes: [0, 1, 125], timeoutMs: 120_000 });
  }

  /** Every container of this store, gone (podman removes their cgroups and mounts too). */
  async removeAll(): Promise<void> {
    await run(removeAllArgv(await this.setup()), { timeoutMs: 120_000 });
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
      let done = false;
      const timer = setInterval(() => {
        void (async () => {
          if (done || (await readStartTicks(state.pid)) === startTicks) return;
          done = true;
          clearInterval(timer);
          const after = await this.waitStopped(state.id).catch(() => undefined);
          // Still "running" in podman's eyes (or unreadable): the exit code is unknown, not 0.
          const known = after && !after.running;
          resolve({ exitCode: known ? after.exitCode : undefined, signal: undefined, ...(known && wasOomKilled(after) && { oomKilled: true }) });
        })();
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

/** An image's HEALTHCHECK as its config holds it (durations in nanoseconds; 0 = Docker's default). */
export interface ImageHealthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

/** Docker's reading of an image HEALTHCHECK: `CMD` argv, `CMD-SHELL` script, `NONE`; defaults 30 s, 30 s, 3, 0 s. */
export function healthcheckFromImage(hc: ImageHealthcheck): Healthcheck | undefined {
  const [kind, ...rest] = hc.Test ?? [];
  const ms = (ns: number | undefined, fallback: number) => (ns && ns > 0 ? Math.round(ns / 1e6) : fallback);
  const test: Healthcheck['test'] | undefined =
    kind === 'CMD' && rest.length > 0 ? { type: 'cmd', argv: rest } : kind === 'CMD-SHELL' && rest[0] !== undefined ? { type: 'shell', script: rest[0] } : kind === 'NONE' ? { type: 'none' } : undefined;
  if (!test) return undefined;
  return { test, intervalMs: ms(hc.Interval, 30_000), timeoutMs: ms(hc.Timeout, 30_000), retries: hc.Retries && hc.Retries > 0 ? hc.Retries : 3, startPeriodMs: ms(hc.StartPeriod, 0) };
}

/** podman records an OOM kill only where conmon could watch the cgroup; else the kernel's log says (an exit by SIGKILL only). */
function wasOomKilled(state: ContainerState): boolean {
  return state.oomKilled || (state.exitCode === 137 && oomKilledIn(readKernelLog(), state.id));
}

/** A container that had already exited when we looked: its exit, as a task process that has ended. */
function exitedProcess(state: ContainerState): TaskProcess {
  return { pid: 0, startTicks: 0, exited: Promise.resolve({ exitCode: state.exitCode, signal: undefined, ...(wasOomKilled(state) && { oomKilled: true }) }) };
}
