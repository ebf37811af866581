import type { NatsConnection, Subscription } from 'nats';
import type { Buckets } from '../core/state/buckets.js';
import type { KvMirror } from '../core/state/mirror.js';
import { allMirrors, startClusterMirrors } from '../core/state/cluster-mirrors.js';
import { MANAGER_QUEUE, SUBJECTS } from '../core/names.js';
import { route, serve } from '../core/rpc.js';
import * as W from '../core/wire/schemas.js';
import { RPC_MAX_BYTES } from '../core/wire/limits.js';
import type { Logger } from '../core/log.js';
import { Allocator } from './allocator.js';
import { ensureCluster, type ClusterConfigInput } from './cluster-config.js';
import { LeaderElection } from './leader.js';
import { NodeRegistry } from './node-registry.js';
import { Scheduler } from './scheduler/scheduler.js';
import { StackDeployer } from './deploy/deployer.js';
import { NatsUserSync } from './nats-users.js';
import { StatusGc } from './status-gc.js';
import { updateNode } from './node-update.js';
import { removeNode } from './node-remove.js';
import { listKeys } from '../core/state/read.js';
import { RegistryAuthStore, serveRegistryAuth } from './registry-auth.js';
import { serveEndpoints } from './endpoints.js';
import { createNetwork, removeNetwork } from './networks.js';
import { StatePurger } from './state-purger.js';
import type { EmbeddedNats } from './nats-server.js';
import { joinToken, type ClusterSecrets } from '../core/auth/secrets.js';
import { MeshError } from '../core/errors.js';

export interface ManagerOptions {
  nc: NatsConnection;
  buckets: Buckets;
  nodeId: string;
  cluster: ClusterConfigInput;
  log: Logger;
  /** The cluster's secrets: admission (join tokens) is served when present. */
  secrets?: ClusterSecrets;
  /** A node silent this long is down (default NODE_DOWN_AFTER_MS). */
  nodeDownAfterMs?: number;
  /** This manager's own nats-server, whose users follow the mesh_auth bucket. */
  nats?: { server: EmbeddedNats; stateDir: string };
}

/** The manager role: cluster record, leader election, node registry, scheduler, and the API. */
export class Manager {
  private election: LeaderElection | undefined;
  private registry: NodeRegistry | undefined;
  private scheduler: Scheduler | undefined;
  private statusGc: StatusGc | undefined;
  private appliedGc: StatusGc | undefined;
  private api: Subscription | undefined;
  private register: Subscription | undefined;
  private registryAuth: Subscription | undefined;
  private endpoints: Subscription | undefined;
  private users: NatsUserSync | undefined;
  private purger: StatePurger | undefined;
  private mirrors: KvMirror<unknown>[] = [];

  constructor(private readonly opts: ManagerOptions) {}

  async start(): Promise<void> {
    const { nc, buckets, log } = this.opts;
    const allocator = new Allocator(buckets.alloc);
    const config = await ensureCluster(buckets, allocator, this.opts.cluster);
    const mirrors = startClusterMirrors(buckets, log);
    this.mirrors = allMirrors(mirrors);
    await Promise.all(this.mirrors.map((m) => m.ready));
    const registry = new NodeRegistry({ nc, buckets, nodes: mirrors.nodes, log, isLeader: () => this.election?.isLeader ?? false, downAfterMs: this.opts.nodeDownAfterMs, workersNeedCredentials: this.opts.secrets !== undefined });
    this.registry = registry;
    const deployer = new StackDeployer({ buckets, allocator, config, log, nodeId: this.opts.nodeId });
    const scheduler = new Scheduler({
      buckets,
      allocator,
      mirrors,
      log: log.child({ part: 'scheduler' }),
      onFenced: (err) => this.election?.fenced(err.fenceTerm),
      rollback: async (serviceId, reason) => void (await deployer.rollback(serviceId, reason)),
    });
    this.scheduler = scheduler;
    const statusGc = new StatusGc({ status: buckets.status, taskKeys: () => new Set(mirrors.tasks.keys()), log });
    this.statusGc = statusGc;
    const appliedGc = new StatusGc({ status: buckets.applied, taskKeys: () => new Set(mirrors.nodes.keys()), log, what: 'applied-state records of nodes that are gone' });
    this.appliedGc = appliedGc;
    const registryAuth = buckets.secrets && new RegistryAuthStore(buckets.secrets);
    const purger = new StatePurger({
      buckets,
      log: log.child({ part: 'purger' }),
      afterSweep: async () => {
        await deployer.completeInterruptedCommits();
        // Service ids read fresh from the server (a mirror between reconnects may be empty).
        const removed = registryAuth ? await registryAuth.removeOrphans(new Set(await listKeys(buckets.services))) : [];
        if (removed.length) log.info('removed registry logins of services that are gone', { services: removed.length });
      },
    });
    this.purger = purger;
    const networkDeps = { buckets, allocator, config, log };
    this.api = serve(nc, {
      subject: SUBJECTS.api('>'),
      queue: MANAGER_QUEUE,
      log,
      verbOf: (s) => s.slice(SUBJECTS.api('').length),
      routes: {
        'cluster.join-token': route(W.JoinTokenRequest, async ({ role }) => {
          if (!this.opts.secrets) throw new MeshError('this cluster runs on an external NATS (--nats-url): meshd manages no join tokens');
          return { token: joinToken(this.opts.secrets, role) };
        }),
        'stack.deploy': route(W.DeployRequest, async (p) => deployer.deploy(p), { maxBytes: RPC_MAX_BYTES.deploy }),
        'stack.rm': route(W.StackRmRequest, async (p) => deployer.removeStack(p.stack)),
        'network.create': route(W.NetworkCreateRequest, async (p) => createNetwork(networkDeps, p)),
        'network.rm': route(W.NetworkRmRequest, async (p) => removeNetwork(networkDeps, p)),
        'service.rm': route(W.ServiceRmRequest, async (p) => deployer.removeService(p.service)),
        'node.update': route(W.NodeUpdateRequest, async (p) => updateNode({ kv: buckets.nodes, nodes: () => [...mirrors.nodes.values()] }, p)),
        'node.rm': route(W.NodeRmRequest, async (p) => removeNode({ buckets, allocator, nodes: () => [...mirrors.nodes.values()], servedBy: this.opts.nodeId, log }, p)),
        'service.scale': route(W.ServiceScaleRequest, async (p) => deployer.scale(p.service, p.replicas)),
        'service.update': route(W.ServiceUpdateRequest, async (p) => deployer.updateService(p)),
        'service.rollback': route(W.ServiceRollbackRequest, async (p) => deployer.rollback(p.service)),
      },
    });
    // A node registers on its own subject: the one its NATS permissions let it publish on.
    this.register = registry.serveRegistration(MANAGER_QUEUE);
    this.endpoints = serveEndpoints({ nc, kv: buckets.endpoints, allocator, networks: () => mirrors.networks.values(), nodes: () => mirrors.nodes.values(), log: log.child({ part: 'endpoints' }), queue: MANAGER_QUEUE });
    if (registryAuth) {
      this.registryAuth = serveRegistryAuth({ nc, store: registryAuth, services: () => mirrors.services.values(), tasks: () => mirrors.tasks.values(), log, queue: MANAGER_QUEUE });
    }
    if (this.opts.nats && buckets.auth) {
      this.users = new NatsUserSync({ buckets, server: this.opts.nats.server, stateDir: this.opts.nats.stateDir, log });
      this.users.start();
    }
    registry.start();
    this.election = new LeaderElection(buckets.control, {
      nodeId: this.opts.nodeId,
      log,
      onChange: (leading) => {
        if (leading) {
          registry.becameLeader();
          void scheduler.start(this.election!.lease);
          statusGc.start();
          appliedGc.start();
          purger.start();
        } else {
          void scheduler.stop();
          void statusGc.stop();
          void appliedGc.stop();
          void purger.stop();
        }
      },
    });
    this.election.start();
    log.info('manager started', { cluster: config.id });
  }

  async stop(): Promise<void> {
    this.api?.unsubscribe();
    this.register?.unsubscribe();
    this.registryAuth?.unsubscribe();
    this.endpoints?.unsubscribe();
    await this.users?.stop();
    this.registry?.stop();
    await this.election?.stop();
    await this.scheduler?.stop();
    await this.statusGc?.stop();
    await this.appliedGc?.stop();
    await this.purger?.stop();
    for (const m of this.mirrors) m.stop();
  }
}
