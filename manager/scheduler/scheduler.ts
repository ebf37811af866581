import { routingMeshInUse } from '../../core/serving.js';
import type { TaskStatus } from '../../core/model.js';
import type { Buckets } from '../../core/state/buckets.js';
import { stateMirrors, type ClusterMirrors } from '../../core/state/cluster-mirrors.js';
import { CoalescingRunner } from '../../core/runner.js';
import type { Logger } from '../../core/log.js';
import type { Allocator } from '../allocator.js';
import { planScheduling } from './plan.js';
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

  constructor(
    private readonly deps: {
      buckets: Buckets;
      allocator: Allocator;
      mirrors: SchedulerMirrors;
      log: Logger;
      /** Called when a write was refused because a newer leader fenced the tasks stream. */
      onFenced?: (err: FencedError) => void;
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
    const actions = planScheduling({
      nodes: mirrors.nodes.values(),
      services: mirrors.services.values(),
      tasks: mirrors.tasks.values(),
      statuses,
    });
    if (actions.length) await this.executor.apply(actions);
    await this.ensureIngressAddresses(statuses);
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
