import type { NatsConnection, Subscription } from 'nats';
import type { Buckets } from '../core/state/buckets.js';
import type { KvMirror } from '../core/state/mirror.js';
import { allMirrors, startClusterMirrors } from '../core/state/cluster-mirrors.js';
import { MANAGER_QUEUE, SUBJECTS } from '../core/names.js';
import { serve } from '../core/rpc.js';
import type { Logger } from '../core/log.js';
import { Allocator } from './allocator.js';
import { ensureCluster, type ClusterConfigInput } from './cluster-config.js';
import { LeaderElection } from './leader.js';
import { NodeRegistry, type NodeAnnouncement } from './node-registry.js';
import { Scheduler } from './scheduler/scheduler.js';
import { StackDeployer, type DeployRequest } from './deploy/deployer.js';

export interface ManagerOptions {
  nc: NatsConnection;
  buckets: Buckets;
  nodeId: string;
  cluster: ClusterConfigInput;
  log: Logger;
}

/** The manager role: cluster record, leader election, node registry, scheduler, and the API. */
export class Manager {
  private election: LeaderElection | undefined;
  private registry: NodeRegistry | undefined;
  private scheduler: Scheduler | undefined;
  private api: Subscription | undefined;
  private mirrors: KvMirror<unknown>[] = [];

  constructor(private readonly opts: ManagerOptions) {}

  async start(): Promise<void> {
    const { nc, buckets, log } = this.opts;
    const allocator = new Allocator(buckets.alloc);
    const config = await ensureCluster(buckets, allocator, this.opts.cluster);
    const mirrors = startClusterMirrors(buckets, log);
    this.mirrors = allMirrors(mirrors);
    await Promise.all(this.mirrors.map((m) => m.ready));
    const registry = new NodeRegistry({ nc, buckets, nodes: mirrors.nodes, log, isLeader: () => this.election?.isLeader ?? false });
    this.registry = registry;
    const scheduler = new Scheduler({ buckets, allocator, mirrors, log: log.child({ part: 'scheduler' }) });
    this.scheduler = scheduler;
    const deployer = new StackDeployer({ buckets, allocator, config, log });
    this.api = serve(nc, {
      subject: SUBJECTS.api('>'),
      queue: MANAGER_QUEUE,
      log,
      verbOf: (s) => s.slice(SUBJECTS.api('').length),
      handlers: {
        'node.register': async (p) => registry.register(p as NodeAnnouncement),
        'stack.deploy': async (p) => deployer.deploy(p as DeployRequest),
        'stack.rm': async (p) => deployer.removeStack((p as { stack: string }).stack),
        'service.rm': async (p) => deployer.removeService((p as { service: string }).service),
        'service.scale': async (p) => {
          const { service, replicas } = p as { service: string; replicas: number };
          return deployer.scale(service, replicas);
        },
      },
    });
    registry.start();
    this.election = new LeaderElection(buckets.control, {
      nodeId: this.opts.nodeId,
      log,
      onChange: (leading) => {
        if (leading) {
          registry.becameLeader();
          scheduler.start();
        } else void scheduler.stop();
      },
    });
    this.election.start();
    log.info('manager started', { cluster: config.id });
  }

  async stop(): Promise<void> {
    this.api?.unsubscribe();
    this.registry?.stop();
    await this.election?.stop();
    await this.scheduler?.stop();
    for (const m of this.mirrors) m.stop();
  }
}
