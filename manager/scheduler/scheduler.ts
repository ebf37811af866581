import type { Buckets } from '../../core/state/buckets.js';
import type { NetworkRecord, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../../core/model.js';
import type { KvMirror } from '../../core/state/mirror.js';
import { CoalescingRunner } from '../../core/runner.js';
import type { Logger } from '../../core/log.js';
import type { Allocator } from '../allocator.js';
import { planScheduling } from './plan.js';
import { SchedulerExecutor } from './executor.js';

export interface SchedulerMirrors {
  nodes: KvMirror<NodeRecord>;
  networks: KvMirror<NetworkRecord>;
  services: KvMirror<ServiceRecord>;
  tasks: KvMirror<TaskRecord>;
  status: KvMirror<TaskStatus>;
}

/** Runs the scheduling planner on the leader whenever nodes, services or tasks change. */
export class Scheduler {
  private readonly runner: CoalescingRunner;
  private readonly executor: SchedulerExecutor;

  constructor(private readonly deps: { buckets: Buckets; allocator: Allocator; mirrors: SchedulerMirrors; log: Logger }) {
    const { mirrors } = deps;
    const taskById = () => new Map(mirrors.tasks.values().map((t) => [t.id, t]));
    this.executor = new SchedulerExecutor({
      buckets: deps.buckets,
      allocator: deps.allocator,
      log: deps.log,
      service: (id) => mirrors.services.get(id),
      network: (id) => mirrors.networks.get(id),
      task: (id) => taskById().get(id),
    });
    this.runner = new CoalescingRunner({
      name: 'scheduler',
      minIntervalMs: 50,
      maxIntervalMs: 2_000,
      retryMs: 200,
      log: deps.log,
      run: () => this.pass(),
    });
    for (const m of Object.values(mirrors) as KvMirror<unknown>[]) m.onChange(() => this.runner.request());
  }

  start(): void {
    this.runner.start();
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }

  private async pass(): Promise<void> {
    const { mirrors } = this.deps;
    const statuses = new Map(mirrors.status.values().map((s) => [s.taskId, s]));
    const actions = planScheduling({
      nodes: mirrors.nodes.values(),
      services: mirrors.services.values(),
      tasks: mirrors.tasks.values(),
      statuses,
    });
    if (actions.length) await this.executor.apply(actions);
  }
}
