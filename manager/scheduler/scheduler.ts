import type { Buckets } from '../../core/state/buckets.js';
import { stateMirrors, type ClusterMirrors } from '../../core/state/cluster-mirrors.js';
import { CoalescingRunner } from '../../core/runner.js';
import type { Logger } from '../../core/log.js';
import type { Allocator } from '../allocator.js';
import { schedulingPlan, type SchedulingPlan } from './plan.js';
import type { RolloutView } from './rollout.js';
import type { TaskRecord, TaskStatus } from '../../core/model.js';
import { isServing, routingMeshInUse } from '../../core/serving.js';
import { handoffTimeoutMs, laggingNodes } from '../../core/applied.js';
import { SchedulerExecutor } from './executor.js';
import { FencedError, FencedTaskWriter } from './fence.js';

export type SchedulerMirrors = ClusterMirrors;

/** Runs the scheduling planner on the leader whenever nodes, services or tasks change. */
export class Scheduler {
  private readonly runner: CoalescingRunner;
  private readonly executor: SchedulerExecutor;
  private writer: FencedTaskWriter | undefined;
  /** Bumped by every start/stop, so a start that finishes after a stop does not run. */
  private epoch = 0;
  private readonly clock = new RolloutClock();
  /** Some task serves but not yet on every node: a node's applied report may be what the plan waits for. */
  private awaitingApplied = false;
  private wakeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      buckets: Buckets;
      allocator: Allocator;
      mirrors: SchedulerMirrors;
      log: Logger;
      /** Called when a write was refused because a newer leader fenced the tasks stream. */
      onFenced?: (err: FencedError) => void;
      /** Returns a service to its previous spec (an update's `failure_action: rollback`). */
      rollback?: (serviceId: string, reason: string) => Promise<void>;
    },
  ) {
    const { mirrors } = deps;
    const taskById = () => new Map(mirrors.tasks.values().map((t) => [t.id, t]));
    this.executor = new SchedulerExecutor({
      buckets: deps.buckets,
      allocator: deps.allocator,
      log: deps.log,
      service: (id) => mirrors.services.get(id),
      network: (id) => mirrors.networks.get(id),
      task: (id) => taskById().get(id),
      writer: () => {
        if (!this.writer) throw new FencedError('the scheduler is not leading');
        return this.writer;
      },
      serviceRevision: (id) => mirrors.services.revision(id),
      rollback: async (id, reason) => {
        if (!deps.rollback) throw new Error('this scheduler cannot roll services back');
        await deps.rollback(id, reason);
      },
    });
    this.runner = new CoalescingRunner({
      name: 'scheduler',
      minIntervalMs: 50,
      maxIntervalMs: 2_000,
      retryMs: 200,
      log: deps.log,
      run: () => this.pass(),
    });
    for (const m of stateMirrors(mirrors)) m.onChange(() => this.runner.request());
    // Nodes report what they applied all the time; only a start-first successor or a batch waits on it.
    mirrors.applied.onChange(() => {
      if (this.awaitingApplied) this.runner.request();
    });
  }

  /**
   * Starts scheduling as the leader of `term`: fences the tasks stream first, and plans nothing
   * until the tasks mirror has seen the fence (so it includes every write of older terms).
   */
  async start(lease: { nodeId: string; term: number }): Promise<void> {
    const epoch = ++this.epoch;
    const writer = new FencedTaskWriter(this.deps.buckets.tasks, lease);
    try {
      const seq = await writer.fence();
      await this.deps.mirrors.tasks.caughtUp(seq);
    } catch (err) {
      this.deps.log.warn('scheduler could not fence the tasks stream', { term: lease.term, err });
      if (err instanceof FencedError) this.deps.onFenced?.(err);
      else if (epoch === this.epoch) setTimeout(() => epoch === this.epoch && void this.start(lease), 500);
      return;
    }
    if (epoch !== this.epoch) return;
    this.writer = writer;
    this.deps.log.info('scheduler fenced the tasks stream', { term: lease.term });
    this.runner.start();
  }

  async stop(): Promise<void> {
    this.epoch++;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.writer = undefined;
    await this.runner.stop();
  }

  private async pass(): Promise<void> {
    try {
      await this.planAndApply();
    } catch (err) {
      if (err instanceof FencedError) {
        this.writer = undefined;
        this.deps.onFenced?.(err);
      }
      throw err;
    }
  }

  private async planAndApply(): Promise<void> {
    const { mirrors } = this.deps;
    const statuses = new Map(mirrors.status.values().map((s) => [s.taskId, s]));
    const tasks = mirrors.tasks.values();
    const now = performance.now();
    this.clock.observe(tasks, statuses, now);
    const plan = schedulingPlan({
      nodes: mirrors.nodes.values(),
      services: mirrors.services.values(),
      tasks,
      statuses,
      view: this.clock.view(now, this.servingEverywhere(tasks, statuses, now)),
      nowIso: new Date().toISOString(),
    });
    this.clock.settle(plan, now);
    this.wakeFor(plan);
    if (plan.actions.length) {
      const { servicesSeq } = await this.executor.apply(plan.actions);
      // The next pass plans from what this one wrote: a mirror a write behind would see a slot
      // still empty, or a batch not yet started, and do it again.
      const tasksSeq = this.writer?.lastSeq;
      if (tasksSeq !== undefined) await mirrors.tasks.caughtUp(tasksSeq);
      if (servicesSeq > 0) await mirrors.services.caughtUp(servicesSeq);
    }
    await this.ensureIngressAddresses(statuses);
  }

  /**
   * The tasks every live node's load balancers select: serving, and every ready node's data plane
   * reports having applied the task's record and its serving status (`mesh_applied`). Bounded:
   * a task serving for `handoffTimeoutMs` counts, with the nodes that lag logged once.
   */
  private servingEverywhere(tasks: readonly TaskRecord[], statuses: ReadonlyMap<string, TaskStatus>, now: number): Set<string> {
    const { mirrors } = this.deps;
    const nodes = mirrors.nodes.values();
    const applied = mirrors.applied.values();
    const down = new Set(nodes.filter((n) => n.status === 'down').map((n) => n.id));
    const out = new Set<string>();
    this.awaitingApplied = false;
    for (const t of tasks) {
      const st = statuses.get(t.id);
      if (!st || !isServing(t, st, down)) continue;
      const key = `${t.nodeId}.${t.id}`;
      const lagging = laggingNodes({ nodes, applied, want: { tasksSeq: mirrors.tasks.revision(key) ?? 0, statusSeq: mirrors.status.revision(key) ?? 0 } });
      const servingFor = now - this.clock.servingSince(t.id, now);
      if (lagging.length === 0 || servingFor >= handoffTimeoutMs()) {
        if (lagging.length > 0 && this.clock.firstOverdue(t.id)) {
          this.deps.log.warn('a task counts as serving everywhere before every node applied it', { task: t.name, lagging: lagging.map((n) => n.hostname), waitedMs: Math.round(servingFor) });
        }
        out.add(t.id);
      } else this.awaitingApplied = true;
    }
    return out;
  }

  /** A batch delay or a monitor period ends without any state change: plan again then. */
  private wakeFor(plan: SchedulingPlan): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (plan.wakeInMs !== undefined) this.wakeTimer = setTimeout(() => this.runner.request(), plan.wakeInMs + 5);
  }

  /**
   * While any service publishes a port in ingress mode, every node's ingress sandbox needs an
   * address on the ingress network (the routing mesh answers on nodes without replicas too), and
   * after that while a replica that published still leaves (`routingMeshInUse`).
   */
  private async ensureIngressAddresses(statuses: ReadonlyMap<string, TaskStatus>): Promise<void> {
    const { mirrors } = this.deps;
    const ingress = mirrors.networks.values().find((n) => n.ingress);
    if (!ingress) return;
    const inUse = routingMeshInUse({ services: mirrors.services.values(), tasks: mirrors.tasks.values(), statuses, ingressId: ingress.id });
    if (!inUse) {
      // Nothing publishes any more: give the addresses back (no leaked allocations).
      for (const l of mirrors.lbaddrs.values()) if (l.networkId === ingress.id) await this.executor.releaseLbAddress(l);
      return;
    }
    for (const node of mirrors.nodes.values()) {
      if (!mirrors.lbaddrs.get(`${ingress.id}.${node.id}`)) await this.executor.ensureLbAddress(ingress, node.id);
    }
  }
}

/**
 * What the leader has seen over time, by its own monotonic clock: when each task was first seen
 * running, since when each service has had nothing in flight. Lost with the leadership: a new
 * leader starts counting from its takeover (a monitor period or batch delay starts over).
 */
class RolloutClock {
  private readonly runningSince = new Map<string, number>();
  private readonly idleSince = new Map<string, number>();
  private readonly serving = new Map<string, number>();
  private readonly overdue = new Set<string>();

  /** Since when the task has served (first asked), for the bound on waiting for every node. */
  servingSince(taskId: string, now: number): number {
    const since = this.serving.get(taskId) ?? now;
    this.serving.set(taskId, since);
    return since;
  }

  /** True the first time a task is found overdue (it is logged once). */
  firstOverdue(taskId: string): boolean {
    if (this.overdue.has(taskId)) return false;
    this.overdue.add(taskId);
    return true;
  }

  observe(tasks: readonly TaskRecord[], statuses: ReadonlyMap<string, TaskStatus>, now: number): void {
    const present = new Set<string>();
    for (const t of tasks) {
      present.add(t.id);
      if (t.desiredState === 'running' && statuses.get(t.id)?.state === 'running' && !this.runningSince.has(t.id)) this.runningSince.set(t.id, now);
    }
    for (const id of this.runningSince.keys()) if (!present.has(id)) this.runningSince.delete(id);
    for (const id of this.serving.keys()) if (!present.has(id) || statuses.get(id)?.state !== 'running') this.serving.delete(id);
    for (const id of this.overdue) if (!present.has(id)) this.overdue.delete(id);
  }

  view(now: number, servingEverywhere: ReadonlySet<string>): RolloutView {
    return { now, runningSince: this.runningSince, idleSince: this.idleSince, servingEverywhere };
  }

  /** Services idle this pass keep the time they became idle; the others lose it. */
  settle(plan: SchedulingPlan, now: number): void {
    for (const id of [...this.idleSince.keys()]) if (!plan.idle.has(id)) this.idleSince.delete(id);
    for (const id of plan.idle) if (!this.idleSince.has(id)) this.idleSince.set(id, now);
  }
}
