/**
 * What the task supervisor (supervisor.ts) keeps per task, what survives a meshd restart, and its
 * pure decisions: the restart policy, the health check in force, a task's environment.
 */
import { readFile, readdir } from 'node:fs/promises';
import type { Healthcheck, RestartPolicy, ServiceRecord, TaskRecord, TaskState } from '../core/model.js';
import type { Logger } from '../core/log.js';
import type { TaskUser } from '../core/task-user.js';
import type { HealthMonitor } from './health.js';
import type { RunPaths } from './paths.js';
import type { ProcessExit, TaskProcess } from './task-process.js';
import type { PodmanEngine } from './engine/podman.js';

/** What survives a meshd restart about a task process, in its task dir. */
export interface SavedState {
  pid: number;
  startTicks: number;
  restarts: number;
  /** The task's container, for a task that runs an image. */
  containerId?: string;
}

export interface Supervised {
  task: TaskRecord;
  service: ServiceRecord;
  proc?: TaskProcess;
  /** The compose `user:` resolved on this node at the last launch; root when absent. */
  user?: TaskUser;
  health?: HealthMonitor;
  /**
   * The process whose `running` state has been reported. Until then a change of health is not
   * reported on its own (it would say `running` before the ports are bound, and the `running`
   * report after it would take its health back); that report carries the health of that moment.
   */
  reportedRunning?: TaskProcess;
  restarts: number;
  stopping: boolean;
  restartTimer?: NodeJS.Timeout;
  /** The task's container while it has one (image tasks). */
  containerId?: string;
  /** Failed pulls in a row (the next retry waits longer). */
  pullFailures: number;
  /** An image task's launch in flight (pull, create, start): a stop waits for it. */
  launching?: Promise<void>;
  /** The image's HEALTHCHECK, used when the service sets none (compose `healthcheck` wins). */
  imageHealthcheck?: Healthcheck;
  /** Its hand-off while it leaves, until the stop signal: aborted when the task is wanted again. */
  leaving?: AbortController;
}

/** The health check a task runs: the service's, else its image's (Docker's rule). */
export function healthcheckOf(sup: Supervised): Healthcheck | undefined {
  return sup.service.spec.healthcheck ?? sup.imageHealthcheck;
}

/** A service's TCP target ports (the connections a leaving replica serves). */
export function tcpTargets(service: ServiceRecord | undefined): number[] {
  return (service?.spec.ports ?? []).filter((p) => p.protocol === 'tcp').map((p) => p.target);
}

/** A task's environment: its service's, plus the names Docker and meshd give it. */
export function taskEnvironment(task: TaskRecord, service: ServiceRecord, nodeName: string): Record<string, string> {
  return {
    ...service.spec.environment,
    HOSTNAME: task.name,
    MESH_TASK_NAME: task.name,
    MESH_TASK_SLOT: String(task.slot),
    MESH_SERVICE_NAME: service.name,
    MESH_NODE_NAME: nodeName,
  };
}

/**
 * What a previous meshd left: each task dir's state.json (an unreadable one counts as no
 * process), and containers of ours whose task dir is gone (lost with the run dir), which would
 * otherwise run on unseen: remembered too, so the first reconcile stops and removes them unless wanted.
 */
export async function readSavedStates(deps: { paths: RunPaths; nodeId: string; log: Logger; engine: { ok: true; engine: PodmanEngine } | { ok: false; reason: string } }): Promise<Map<string, SavedState>> {
  const saved = new Map<string, SavedState>();
  const dirs = await readdir(deps.paths.tasksDir).catch(() => [] as string[]);
  for (const id of dirs) {
    try {
      saved.set(id, JSON.parse(await readFile(deps.paths.taskState(id), 'utf8')) as SavedState);
    } catch {
      saved.set(id, { pid: 0, startTicks: -1, restarts: 0 });
    }
  }
  const { engine } = deps;
  if (engine.ok && (await engine.engine.hasStore())) {
    const found = await engine.engine.listTasks(deps.nodeId).catch((err: unknown) => {
      deps.log.warn('could not list the containers of this node', { err });
      return new Map<string, string>();
    });
    for (const [taskId, containerId] of found) {
      const one = saved.get(taskId);
      if (!one) saved.set(taskId, { pid: 0, startTicks: -1, restarts: 0, containerId });
      else if (!one.containerId) one.containerId = containerId;
    }
  }
  return saved;
}

/** The restart policy as a pure decision: restart, or the final state and why. */
export function restartVerdict(policy: RestartPolicy, exit: ProcessExit, restartsSoFar: number): { restart: true } | { restart: false; state: TaskState; why?: string } {
  const success = exit.exitCode === 0;
  const finalState: TaskState = success ? 'complete' : 'failed';
  if (policy.condition === 'none') return { restart: false, state: finalState };
  if (policy.condition === 'on-failure' && success) return { restart: false, state: 'complete' };
  if (policy.maxAttempts > 0 && restartsSoFar >= policy.maxAttempts) {
    return { restart: false, state: finalState, why: `restart policy max_attempts=${policy.maxAttempts} reached` };
  }
  return { restart: true };
}
