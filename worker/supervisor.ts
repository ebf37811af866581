import { writeFile } from 'node:fs/promises';
import { TERMINAL_STATES, type ServiceRecord, type TaskRecord, type TaskState, type TaskStatus } from '../core/model.js';
import type { Logger } from '../core/log.js';
import type { RunPaths } from './paths.js';
import { ensureSandbox, removeSandbox, removeTaskDir } from './sandbox.js';
import { HealthMonitor, type Health } from './health.js';
import { waitListening } from './listening.js';
import { adoptTaskProcess, readStartTicks, resolveUserOnNode, startTaskProcess, stopTaskProcess, type ProcessExit, type TaskProcess } from './task-process.js';
import { ImagePullError, type PodmanEngine } from './engine/podman.js';
import { pullRetryDelayMs } from './engine/pull-backoff.js';
import { qualifyImage, registryOf } from './engine/podman-argv.js';
import type { Handoff } from './handoff.js';
import { healthcheckOf, readSavedStates, restartVerdict, taskEnvironment, tcpTargets, type SavedState, type Supervised } from './supervised.js';

export { restartVerdict } from './supervised.js';

/** How long a new task may take to bind its declared ports before it is reported running anyway. */
const LISTEN_WAIT_MS = 5_000;

export interface SupervisorDeps {
  paths: RunPaths;
  nodeId: string;
  nodeName: string;
  report: (status: TaskStatus) => Promise<void>;
  log: Logger;
  stopGraceMs: number;
  /** The task's /etc/resolv.conf. */
  resolvConf: string;
  /** Connects the sandbox to its networks; awaited before the process starts. */
  beforeStart?: (task: TaskRecord) => Promise<void>;
  /** Directories no task may see (meshd's state and run dirs, a dev cluster's home). */
  masks: readonly string[];
  /** The node's embedded DNS address (a container's `--dns`). */
  dnsAddr: string;
  /** The container engine, or why this node has none (then image tasks are refused here). */
  engine: { ok: true; engine: PodmanEngine } | { ok: false; reason: string };
  /** A service's registry login (`--with-registry-auth`), asked of a manager right before a pull. */
  registryLogin?: (serviceId: string) => Promise<Record<string, string>>;
  /** A leaving task's hand-off before its stop signal (worker/handoff.ts); without it, it stops at once. */
  handoff?: Pick<Handoff, 'leave' | 'removalSeq'>;
  /** Asks for another reconcile pass (a stop in the background ended). */
  resync?: () => void;
}

/** Runs this node's tasks: sandbox, process, restart policy, status; adopts survivors of a restart. */
export class TaskSupervisor {
  private readonly tasks = new Map<string, Supervised>();
  private saved = new Map<string, SavedState>();
  /** Tasks already stopped and reported shut down, kept until their record goes. */
  private readonly finished = new Set<string>();
  /** Stops under way (hand-off, signal, clean-up), each in the background: one per task. */
  private readonly stops = new Map<string, Promise<void>>();

  constructor(private readonly deps: SupervisorDeps) {}

  /** Reads what a previous meshd left running; call before the first reconcile. */
  async loadSaved(): Promise<void> {
    this.saved = await readSavedStates(this.deps);
  }

  /**
   * Brings local tasks to the desired set; tasks not in it are stopped and cleaned up. Stops run
   * in the background (each leaves first: `stop`), so one task's stop never delays another's start.
   */
  async reconcile(desired: ReadonlyMap<string, { task: TaskRecord; service?: ServiceRecord }>): Promise<void> {
    for (const [id, { task, service }] of desired) {
      if (task.desiredState === 'running' && service) await this.ensureRunning(task, service);
      // Its service record is gone but the scheduler has not yet set it to shutdown: it will (and
      // that record is what every node's data plane is waited on for), so it keeps running till then.
      else if (task.desiredState === 'running' && this.tasks.get(id)?.proc && !this.tasks.get(id)?.stopping) continue;
      else await this.ensureStopped(id, task);
    }
    for (const id of [...this.tasks.keys(), ...this.finished]) if (!desired.has(id)) await this.ensureStopped(id);
    for (const id of [...this.saved.keys()]) {
      if (!desired.has(id)) this.inBackground(id, async () => {
        await this.stopOrphan(id, undefined);
        await removeTaskDir(this.deps.paths, id);
      });
    }
  }

  /** Runs a task's stop in the background, once at a time per task; a reconcile follows its end. */
  private inBackground(id: string, stop: () => Promise<void>): void {
    if (this.stops.has(id)) return;
    const run = stop()
      .catch((err: unknown) => this.deps.log.warn('stopping a task failed', { task: id, err }))
      .finally(() => {
        this.stops.delete(id);
        this.deps.resync?.();
      });
    this.stops.set(id, run);
  }

  runningPids(): Map<string, number> {
    return new Map([...this.tasks].filter(([, s]) => s.proc).map(([id, s]) => [id, s.proc!.pid]));
  }

  private async ensureRunning(task: TaskRecord, service: ServiceRecord): Promise<void> {
    const known = this.tasks.get(task.id);
    // Wanted again while it leaves: still before its stop signal, it stays; after, it starts anew
    // once that stop has ended (the stop asks for the next pass).
    if (known?.leaving) known.leaving.abort();
    if (this.stops.has(task.id)) return;
    if (known) {
      const loginChanged = JSON.stringify(known.service.registryAuth ?? []) !== JSON.stringify(service.registryAuth ?? []);
      known.service = service;
      // Waiting out a pull backoff when the service's registry login changed: pull again now.
      if (loginChanged && known.pullFailures > 0 && known.restartTimer && !known.stopping) {
        clearTimeout(known.restartTimer);
        known.restartTimer = undefined;
        this.deps.log.info('registry login changed; pulling again now', { task: task.name });
        void this.launch(known);
      }
      return;
    }
    const sup: Supervised = { task, service, restarts: 0, stopping: false, pullFailures: 0 };
    this.tasks.set(task.id, sup);
    const saved = this.saved.get(task.id);
    this.saved.delete(task.id);
    if (saved?.containerId && this.deps.engine.ok) {
      if (await this.adoptContainer(sup, saved, saved.containerId)) return;
    } else if (saved && saved.pid > 0) {
      const proc = await adoptTaskProcess(saved.pid, saved.startTicks);
      if (proc) {
        sup.restarts = saved.restarts;
        sup.user = service.spec.user === undefined ? undefined : await resolveUserOnNode(service.spec.user).catch(() => undefined);
        this.watch(sup, proc, true);
        this.deps.log.info('adopted running task', { task: task.name, pid: proc.pid });
        await this.reportRunning(sup, proc, 'adopted after restart');
        return;
      }
    }
    await this.launch(sup);
  }

  /**
   * A container a previous meshd started: adopted while it runs (same container, same process);
   * one that exited meanwhile is reported with its exit code and the restart policy applies.
   * False when there is nothing to adopt (it is started anew).
   */
  private async adoptContainer(sup: Supervised, saved: SavedState, containerId: string): Promise<boolean> {
    if (!this.deps.engine.ok) return false;
    const { proc, state } = await this.deps.engine.engine.adopt(containerId, saved.startTicks);
    if (!state) return false;
    sup.restarts = saved.restarts;
    sup.containerId = containerId;
    if (sup.service.spec.image !== undefined) sup.imageHealthcheck = await this.deps.engine.engine.imageHealthcheck(qualifyImage(sup.service.spec.image)).catch(() => undefined);
    if (!proc) {
      this.deps.log.info('task container exited while meshd was away', { task: sup.task.name, container: containerId.slice(0, 12), exitCode: state.exitCode });
      await this.onExit(sup, { exitCode: state.exitCode, signal: undefined, ...(state.oomKilled && { oomKilled: true }) });
      return true;
    }
    this.watch(sup, proc, true);
    this.deps.log.info('adopted running task', { task: sup.task.name, pid: proc.pid, container: containerId.slice(0, 12) });
    await this.reportRunning(sup, proc, 'adopted after restart');
    return true;
  }

  private async launch(sup: Supervised): Promise<void> {
    if (sup.service.spec.image !== undefined) {
      // Not awaited by the task sync: a slow pull must not hold up every other task of the node.
      const image = qualifyImage(sup.service.spec.image);
      const launching = this.launchContainer(sup, image)
        .catch((err: unknown) => this.deps.log.warn('task launch failed', { task: sup.task.name, err }))
        .finally(() => {
          if (sup.launching === launching) sup.launching = undefined;
        });
      sup.launching = launching;
      return;
    }
    const { task, service } = sup;
    const argv = [...(service.spec.entrypoint ?? []), ...(service.spec.command ?? [])];
    try {
      await this.report(sup, 'preparing', 'creating sandbox');
      sup.user = service.spec.user === undefined ? undefined : await resolveUserOnNode(service.spec.user);
      const files = await ensureSandbox(this.deps.paths, task, this.deps.resolvConf);
      await this.deps.beforeStart?.(task);
      await this.report(sup, 'starting', '');
      const env = taskEnvironment(task, service, this.deps.nodeName);
      const proc = await startTaskProcess({ files, hostname: task.name, argv, env, masks: this.deps.masks, ...(sup.user && { user: sup.user }) });
      await writeFile(this.deps.paths.taskState(task.id), JSON.stringify({ pid: proc.pid, startTicks: proc.startTicks, restarts: sup.restarts } satisfies SavedState));
      this.watch(sup, proc);
      // Not a backend until its declared ports are bound (else LBs send connections to be refused).
      const unbound = await waitListening(proc.pid, service.spec.ports, LISTEN_WAIT_MS);
      const note = unbound.length ? `not listening on ${unbound.join(', ')} after ${LISTEN_WAIT_MS / 1000} s` : '';
      if (sup.proc !== proc || sup.stopping) return;
      await this.reportRunning(sup, proc, note);
    } catch (err) {
      this.deps.log.warn('task failed to start', { task: task.name, err });
      await this.report(sup, 'rejected', `failed to start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The login for the image's registry when its service was deployed with one; never kept on disk past the pull. */
  private async loginFor(sup: Supervised, image: string): Promise<Record<string, string> | undefined> {
    if (!sup.service.registryAuth?.includes(registryOf(image)) || !this.deps.registryLogin) return undefined;
    try {
      return await this.deps.registryLogin(sup.service.id);
    } catch (err) {
      throw new ImagePullError(`pulling ${image}: cannot get its registry login from a manager: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** An image task: pull (with backoff), then its container in the task's sandbox. */
  private async launchContainer(sup: Supervised, image: string): Promise<void> {
    const { task, service } = sup;
    if (!this.deps.engine.ok) {
      await this.report(sup, 'rejected', `no container engine on this node: ${this.deps.engine.reason}`);
      return;
    }
    const engine = this.deps.engine.engine;
    try {
      await this.report(sup, 'preparing', `pulling ${image}`);
      await engine.ensureImage(image, { auths: await this.loginFor(sup, image), always: sup.service.resolveImage === 'always' });
      sup.pullFailures = 0;
      sup.imageHealthcheck = await engine.imageHealthcheck(image);
    } catch (err) {
      if (!(err instanceof ImagePullError)) {
        this.deps.log.warn('task failed to start', { task: task.name, err });
        await this.report(sup, 'rejected', `failed to start: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      if (sup.stopping) return;
      sup.pullFailures++;
      const delayMs = pullRetryDelayMs(sup.pullFailures);
      this.deps.log.warn('image pull failed; retrying', { task: task.name, image, err: err.message, attempt: sup.pullFailures, retryInMs: delayMs });
      await this.report(sup, 'preparing', `retrying the pull in ${Math.round(delayMs / 1000)} s`, { error: err.message });
      sup.restartTimer = setTimeout(() => {
        sup.restartTimer = undefined;
        if (!sup.stopping && this.tasks.get(task.id) === sup) void this.launch(sup);
      }, delayMs);
      return;
    }
    // Told to stop while the image was pulled: nothing to start.
    if (sup.stopping || this.tasks.get(task.id) !== sup) return;
    try {
      const files = await ensureSandbox(this.deps.paths, task, this.deps.resolvConf);
      await this.deps.beforeStart?.(task);
      await this.report(sup, 'starting', '');
      const { containerId, proc } = await engine.start({
        taskId: task.id,
        taskName: task.name,
        serviceName: service.name,
        nodeId: this.deps.nodeId,
        image,
        netns: files.netns,
        dns: this.deps.dnsAddr,
        logPath: files.log,
        env: taskEnvironment(task, service, this.deps.nodeName),
        ...(service.spec.entrypoint !== undefined && { entrypoint: service.spec.entrypoint }),
        ...(service.spec.command !== undefined && { command: service.spec.command }),
        ...(service.spec.user !== undefined && { user: service.spec.user }),
        ...(service.spec.stopSignal !== undefined && { stopSignal: service.spec.stopSignal }),
        ...(service.spec.container !== undefined && { options: service.spec.container }),
      });
      sup.containerId = containerId;
      if (sup.stopping) return; // ensureStopped removes it (it waits for this launch)
      await writeFile(this.deps.paths.taskState(task.id), JSON.stringify({ pid: proc.pid, startTicks: proc.startTicks, restarts: sup.restarts, containerId } satisfies SavedState));
      this.watch(sup, proc);
      if (proc.pid <= 0) return; // it has exited already: the restart policy takes it from here
      const unbound = await waitListening(proc.pid, service.spec.ports, LISTEN_WAIT_MS);
      const note = unbound.length ? `not listening on ${unbound.join(', ')} after ${LISTEN_WAIT_MS / 1000} s` : '';
      if (sup.proc !== proc || sup.stopping) return;
      await this.reportRunning(sup, proc, note);
    } catch (err) {
      this.deps.log.warn('task failed to start', { task: task.name, err });
      await this.report(sup, 'rejected', `failed to start: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The process is a backend from now on (ports bound, or the wait over); its health as of now. */
  private async reportRunning(sup: Supervised, proc: TaskProcess, note: string): Promise<void> {
    sup.reportedRunning = proc;
    const health = sup.health?.current;
    const message = note || (health === 'unhealthy' ? 'health check failing' : '');
    await this.report(sup, 'running', message, { pid: proc.pid, ...(health && { health }) });
  }

  private watch(sup: Supervised, proc: TaskProcess, adopted = false): void {
    sup.proc = proc;
    this.startHealth(sup, proc, adopted ? 'healthy' : 'starting');
    void proc.exited.then((exit) => {
      sup.health?.stop();
      sup.health = undefined;
      if (sup.proc !== proc) return;
      sup.proc = undefined;
      if (!sup.stopping) void this.onExit(sup, exit);
    });
  }

  /** With a healthcheck, a task starts `starting` and takes VIP traffic only once `healthy`. */
  private startHealth(sup: Supervised, proc: TaskProcess, initial: Health): void {
    const check = healthcheckOf(sup);
    if (!check || check.test.type === 'none') return;
    sup.health = new HealthMonitor({ pid: proc.pid, check, ...(sup.user && { user: sup.user }), initial, container: sup.containerId !== undefined }, (h) => {
      this.deps.log.info('task health changed', { task: sup.task.name, health: h });
      // Before the running report, that report carries it.
      if (sup.reportedRunning === proc) void this.reportRunning(sup, proc, '');
    });
    sup.health.start();
  }

  private async onExit(sup: Supervised, exit: ProcessExit): Promise<void> {
    const code = exit.exitCode !== undefined ? `exit code ${exit.exitCode}` : exit.signal ? `signal ${exit.signal}` : 'exited (status unknown)';
    const how = exit.oomKilled ? `OOM killed (${code})` : code;
    const verdict = restartVerdict(sup.service.spec.restartPolicy, exit, sup.restarts);
    this.deps.log.info('task exited', { task: sup.task.name, how, verdict: verdict.restart ? 'restart' : verdict.state });
    if (!verdict.restart) {
      await this.report(sup, verdict.state, `${how}${verdict.why ? `; ${verdict.why}` : ''}`, { exitCode: exit.exitCode });
      return;
    }
    await this.report(sup, 'starting', `${how}; restarting in ${sup.service.spec.restartPolicy.delayMs} ms`, { exitCode: exit.exitCode });
    sup.restartTimer = setTimeout(() => {
      sup.restartTimer = undefined;
      if (sup.stopping || this.tasks.get(sup.task.id) !== sup) return;
      sup.restarts++;
      void this.launch(sup);
    }, sup.service.spec.restartPolicy.delayMs);
  }

  /** Starts a task's stop unless one is under way; forgets a stopped task once its record is gone. */
  private async ensureStopped(id: string, task?: TaskRecord): Promise<void> {
    if (this.stops.has(id)) return;
    const sup = this.tasks.get(id);
    if (sup && !sup.stopping) {
      // Taken now: the change that took it out (its record's revision, or the mirror's newest for a record gone).
      const tasksSeq = this.deps.handoff?.removalSeq(id);
      this.inBackground(id, () => this.stop(sup, tasksSeq));
    } else if (!sup && task && !this.finished.has(id)) {
      // Never ran here, or a previous meshd left it running: make sure nothing is left and say so.
      this.inBackground(id, async () => {
        await this.stopOrphan(id, task);
        await this.deps.report(this.status(task, 'shutdown', 'shut down', 0));
        this.finished.add(id);
      });
    } else if (!sup && !task) {
      this.finished.delete(id);
      await removeTaskDir(this.deps.paths, id);
    }
  }

  /** A task leaves (`handOff`), then gets its stop signal and SIGKILL after its grace; then clean-up and `shutdown`. */
  private async stop(sup: Supervised, tasksSeq: number | undefined): Promise<void> {
    const id = sup.task.id;
    sup.stopping = true;
    if (sup.restartTimer) clearTimeout(sup.restartTimer);
    const graceMs = sup.service.spec.stopGraceMs ?? this.deps.stopGraceMs;
    await sup.launching;
    if (!(await this.handOff(sup, tasksSeq, graceMs))) return;
    sup.health?.stop();
    if (sup.service.spec.image !== undefined && this.deps.engine.ok) {
      // By name, whether or not its start got as far as reporting an id.
      await this.removeContainer(id, graceMs);
    } else if (sup.proc) await stopTaskProcess(sup.proc, { graceMs, signal: sup.service.spec.stopSignal ?? 'SIGTERM' });
    await removeSandbox(this.deps.paths, id);
    await this.report(sup, 'shutdown', 'shut down');
    this.tasks.delete(id);
    this.finished.add(id);
  }

  /**
   * Until every live node's data plane has applied the task's removal and its connections have
   * closed (both bounded: worker/handoff.ts), or its process ended. False when the task was
   * wanted again meanwhile: it keeps running, its stop called off.
   */
  private async handOff(sup: Supervised, tasksSeq: number | undefined, graceMs: number): Promise<boolean> {
    const proc = sup.proc;
    if (!this.deps.handoff || !proc) return true;
    const leaving = new AbortController();
    sup.leaving = leaving;
    const done = this.deps.handoff.leave({ taskId: sup.task.id, taskName: sup.task.name, tasksSeq, pid: proc.pid, ports: tcpTargets(sup.service), graceMs, signal: leaving.signal });
    await Promise.race([done, proc.exited]);
    sup.leaving = undefined;
    if (leaving.signal.aborted && sup.proc === proc) {
      sup.stopping = false;
      this.deps.log.info('task wanted again before its stop signal; it keeps running', { task: sup.task.name });
      return false;
    }
    leaving.abort(); // its process ended first: the waits end too
    return true;
  }

  /**
   * A task no supervisor holds: one a previous meshd left running (the `saved` map) leaves like
   * any other, then is stopped; its sandbox is removed. Its record, if any, gives the change every
   * live node must have applied; with none, no node has it in a load balancer but this one, whose
   * first sync (which ran before any task sync) replaced the previous meshd's.
   */
  private async stopOrphan(id: string, task: TaskRecord | undefined): Promise<void> {
    const saved = this.saved.get(id);
    this.saved.delete(id);
    const alive = saved !== undefined && saved.pid > 0 && (await readStartTicks(saved.pid)) === saved.startTicks;
    if (alive && this.deps.handoff) {
      const tasksSeq = task ? this.deps.handoff.removalSeq(id) : undefined;
      await this.deps.handoff.leave({ taskId: id, taskName: task?.name ?? id, tasksSeq, pid: saved.pid, ports: [], graceMs: this.deps.stopGraceMs });
    }
    if (saved?.containerId && this.deps.engine.ok) {
      await this.removeContainer(id, this.deps.stopGraceMs);
    } else if (saved && saved.pid > 0) {
      const proc = await adoptTaskProcess(saved.pid, saved.startTicks);
      if (proc) await stopTaskProcess(proc, { graceMs: this.deps.stopGraceMs, signal: 'SIGTERM' });
    }
    await removeSandbox(this.deps.paths, id);
  }

  /** Stops (grace, then SIGKILL) and removes a task's container; a podman failure is logged, not thrown. */
  private async removeContainer(taskId: string, graceMs: number): Promise<void> {
    if (!this.deps.engine.ok) return;
    try {
      await this.deps.engine.engine.stop(taskId, graceMs);
      await this.deps.engine.engine.remove(taskId);
    } catch (err) {
      this.deps.log.warn('could not remove a task container', { task: taskId, err });
    }
  }

  private async report(sup: Supervised, state: TaskState, message: string, extra: Partial<TaskStatus> = {}): Promise<void> {
    const container = sup.containerId !== undefined && !TERMINAL_STATES.has(state) ? { containerId: sup.containerId } : {};
    await this.deps.report({ ...this.status(sup.task, state, message, sup.restarts), ...container, ...extra });
  }

  private status(task: TaskRecord, state: TaskState, message: string, restarts: number): TaskStatus {
    return { taskId: task.id, nodeId: this.deps.nodeId, state, message, restarts, updatedAt: new Date().toISOString() };
  }
}
