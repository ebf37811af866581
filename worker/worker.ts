import type { ConnectionOptions, NatsConnection, Subscription } from 'nats';
import type { Buckets } from '../core/state/buckets.js';
import { KvMirror } from '../core/state/mirror.js';
import { allMirrors, startClusterMirrors } from '../core/state/cluster-mirrors.js';
import type { TaskStatus } from '../core/model.js';
import { CONTROL_KEYS, SUBJECTS } from '../core/names.js';
import { DataplaneReconciler } from './dataplane/reconciler.js';
import type { LbApplier } from './dataplane/lb-applier.js';
import { underlayMtu } from './dataplane/underlay.js';
import { gatewayAddr } from './dataplane/gateway.js';
import { taskResolvConf } from './sandbox.js';
import { EmbeddedDns } from '../dns/server.js';
import { nameserversOf } from '../dns/forward.js';
import { NameTableCache } from '../dns/cache.js';
import { readFile } from 'node:fs/promises';
import { encode } from '../core/state/codec.js';
import { request, route, serve } from '../core/rpc.js';
import { loadFromImageStore } from './engine/image-load.js';
import { MeshError } from '../core/errors.js';
import * as W from '../core/wire/schemas.js';
import { encodeAs } from '../core/wire/decode.js';
import { RECORDS } from '../core/wire/records.js';
import { HeartbeatThread } from './heartbeat.js';
import { CoalescingRunner } from '../core/runner.js';
import type { Logger } from '../core/log.js';
import type { NodeAnnouncement } from '../manager/node-registry.js';
import { RunPaths } from './paths.js';
import { TaskSupervisor, type SupervisorDeps } from './supervisor.js';
import { Handoff } from './handoff.js';
import { AppliedReporter } from './dataplane/applied-report.js';
import { readTaskLogs } from './logs.js';
import { DEFAULT_LOG_LIMITS, LogRotator, type LogLimits } from './log-rotation.js';
import { CniAttachments } from './cni/attachments.js';
import { CniSocketServer } from './cni/server.js';

/** How often attachments whose container namespace vanished without a CNI DEL are looked for. */
const CNI_COLLECT_EVERY_MS = 10_000;

export interface WorkerOptions {
  nc: NatsConnection;
  buckets: Buckets;
  node: NodeAnnouncement;
  runDir: string;
  log: Logger;
  stopGraceMs?: number;
  /** Period of the full data-plane resync (default 5 s). */
  resyncEveryMs?: number;
  lbApplier: LbApplier;
  /** Node-local subnet of the outbound gateway bridge. */
  gatewaySubnet: string;
  dns: { ttl: number; upstreams?: string[] };
  /** How the heartbeat thread connects (its own connection, the node's own credentials). */
  heartbeat: { servers: string[]; connect: Pick<ConnectionOptions, 'user' | 'pass' | 'tls'> };
  /** Task log rotation (`--log-max-size`, `--log-max-files`). */
  logLimits?: LogLimits;
  /** Directories no task may see (`taskMaskPaths`). */
  taskMasks: readonly string[];
  /** The container engine found at start-up, or why there is none (image tasks are refused then). */
  engine: SupervisorDeps['engine'];
}

/** The worker role: join, heartbeat, and realise this node's tasks from cluster state. */
export class Worker {
  private heartbeat: HeartbeatThread | undefined;
  private runner: CoalescingRunner | undefined;
  private mirrors: KvMirror<unknown>[] = [];
  private logsSub: Subscription | undefined;
  private rotator: LogRotator | undefined;
  private dataplane: DataplaneReconciler | undefined;
  private dns: EmbeddedDns | undefined;
  private cniServer: CniSocketServer | undefined;
  private cniCollector: NodeJS.Timeout | undefined;
  private cniUnfollow: (() => void) | undefined;
  /** The newest status of each task not yet written. */
  private readonly latest = new Map<string, TaskStatus>();
  /** Tasks whose newest status failed to be written and waits for a retry. */
  private readonly unsent = new Set<string>();
  private retryTimer: NodeJS.Timeout | undefined;
  /** Whether a task (by id) is still in the tasks bucket: reports of gone tasks are not retried. */
  private taskKnown: (taskId: string) => boolean = () => true;

  constructor(private readonly opts: WorkerOptions) {}

  async start(signal: AbortSignal): Promise<void> {
    const { nc, buckets, node, log } = this.opts;
    const paths = new RunPaths(this.opts.runDir);
    this.startHeartbeat();
    await this.register(signal);
    const mirrors = startClusterMirrors(buckets, log);
    const { tasks, services } = mirrors;
    this.taskKnown = (id) => tasks.get(`${node.id}.${id}`) !== undefined;
    const control = new KvMirror(buckets.control, { name: 'control', log, key: CONTROL_KEYS.cluster, kind: RECORDS.cluster }).start();
    this.mirrors = [...allMirrors(mirrors), control as KvMirror<unknown>];
    const names = new NameTableCache(mirrors);
    const upstreams = this.opts.dns.upstreams ?? nameserversOf(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
    const dns = new EmbeddedDns({
      ttl: this.opts.dns.ttl,
      upstreams: () => upstreams,
      forwardTimeoutMs: 2_000,
      maxForwarded: 256,
      clientOf: (addr) => this.dataplane?.taskByGatewayAddr(addr),
      table: () => names.get(),
      log: log.child({ part: 'dns' }),
    });
    this.dns = dns;
    // What this node's data plane applied, for the hand-off of leaving tasks on every node.
    const applied = new AppliedReporter({
      write: async (seqs) => void (await buckets.applied.put(node.id, encodeAs(W.DataplaneApplied, { nodeId: node.id, ...seqs, updatedAt: new Date().toISOString() }))),
      log: log.child({ part: 'dataplane' }),
    });
    const dataplane = new DataplaneReconciler({
      nodeId: node.id,
      mirrors,
      paths,
      applier: this.opts.lbApplier,
      vxlanPort: () => control.get(CONTROL_KEYS.cluster)?.vxlanPort ?? 4789,
      underlayMtu: await underlayMtu(node.addr),
      gatewaySubnet: this.opts.gatewaySubnet,
      resyncEveryMs: this.opts.resyncEveryMs,
      onGateway: async (addr) => (addr ? dns.listen(addr) : dns.close()),
      onApplied: (seqs) => applied.offer(seqs),
      log: log.child({ part: 'dataplane' }),
    });
    this.dataplane = dataplane;
    const limits = this.opts.logLimits ?? DEFAULT_LOG_LIMITS;
    const supervisor = new TaskSupervisor({
      paths,
      nodeId: node.id,
      nodeName: node.hostname,
      log,
      stopGraceMs: this.opts.stopGraceMs ?? 10_000,
      report: (s) => this.report(s),
      resolvConf: taskResolvConf(gatewayAddr(this.opts.gatewaySubnet)),
      beforeStart: (t) => dataplane.attachTask(t.id),
      masks: this.opts.taskMasks,
      dnsAddr: gatewayAddr(this.opts.gatewaySubnet),
      engine: this.opts.engine,
      handoff: new Handoff({ nodeId: node.id, mirrors, log }),
      resync: () => this.runner?.request(),
      registryLogin: async (serviceId) => (await request(nc, SUBJECTS.registryAuth(node.id), { serviceId }, { timeoutMs: 10_000, result: W.RegistryAuthReply })).auths,
    });
    await supervisor.loadSaved();
    // Nothing is programmed until the first full snapshot is in (no half-programmed restart).
    await Promise.all(this.mirrors.map((m) => m.ready));
    // The data plane before the tasks. After a restart the kernel still holds the previous
    // meshd's load balancers; a replica that left this node meanwhile (moved while the node was
    // called down) is a backend there until the first sync replaces them, so the task sync,
    // which stops that replica, starts only after it.
    dataplane.start();
    await dataplane.firstSync;
    this.runner = new CoalescingRunner({
      name: 'task sync',
      minIntervalMs: 20,
      maxIntervalMs: 5_000,
      retryMs: 200,
      log,
      run: () => supervisor.reconcile(new Map(tasks.values().filter((t) => t.nodeId === node.id).map((t) => [t.id, { task: t, service: services.get(t.serviceId) }]))),
    });
    tasks.onChange(() => this.runner?.request());
    services.onChange(() => this.runner?.request());
    this.runner.start();
    this.logsSub = serve(nc, {
      subject: SUBJECTS.node(node.id, '*'),
      log,
      verbOf: (s) => s.split('.').at(-1) ?? '',
      routes: {
        logs: route(W.LogRequest, async (p) => readTaskLogs(paths, p, limits.maxFiles)),
        'image-load': route(W.ImageLoadRequest, async ({ object }) => {
          if (!this.opts.engine.ok) throw new MeshError(`no container engine on this node: ${this.opts.engine.reason}`);
          return { images: await loadFromImageStore({ nc, engine: this.opts.engine.engine, object }) };
        }),
      },
    });
    this.rotator = new LogRotator({ paths, limits, log });
    this.rotator.start();
    await this.startCni({ paths, mirrors, dataplane });
    log.info('worker started', { node: node.hostname, id: node.id });
  }

  /**
   * The CNI plugin's way in (worker/cni/): its socket, and the collection of attachments whose
   * container namespace is gone. Attachments outlive a meshd restart: they are cluster state,
   * wired again by the data plane's first sync.
   */
  private async startCni(opts: { paths: RunPaths; mirrors: ReturnType<typeof startClusterMirrors>; dataplane: DataplaneReconciler }): Promise<void> {
    const { nc, node, log } = this.opts;
    const cniLog = log.child({ part: 'cni' });
    const attachments = new CniAttachments({
      nodeId: node.id,
      mirrors: opts.mirrors,
      dataplane: opts.dataplane,
      managers: {
        attach: async (req) => request(nc, SUBJECTS.endpoint(node.id, 'attach'), req, { result: W.EndpointAttachReply }),
        detach: async (id) => (await request(nc, SUBJECTS.endpoint(node.id, 'detach'), { id }, { result: W.EndpointDetachReply })).removed,
      },
      connected: () => !nc.isClosed(),
      log: cniLog,
    });
    this.cniUnfollow = attachments.follow();
    this.cniServer = new CniSocketServer({ path: opts.paths.cniSocket, handle: (req) => attachments.handle(req), log: cniLog });
    // Without its socket the node serves no CNI runtime, but its tasks still run.
    await this.cniServer.start().catch((err) => cniLog.error('cannot serve the CNI plugin: its socket did not open', { socket: opts.paths.cniSocket, err: String(err) }));
    let collecting = false;
    const collect = async () => {
      if (collecting) return;
      collecting = true;
      await attachments.collect().catch((err) => cniLog.warn('could not collect attachments of vanished containers', { err: String(err) }));
      collecting = false;
    };
    void collect();
    this.cniCollector = setInterval(() => void collect(), CNI_COLLECT_EVERY_MS);
    this.cniCollector.unref();
  }

  /**
   * A graceful stop (live restore): the last heartbeat asks managers to wait `restartGraceMs`
   * before calling this node down, so a restart does not move its tasks. A crash gets no grace.
   */
  async stop(restartGraceMs = 15_000): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // Not connected: the managers will see the silence as a crash.
    await this.heartbeat?.stop(restartGraceMs);
    this.logsSub?.unsubscribe();
    if (this.cniCollector) clearInterval(this.cniCollector);
    this.cniUnfollow?.();
    await this.cniServer?.stop();
    this.rotator?.stop();
    await this.runner?.stop();
    await this.dataplane?.stop();
    await this.dns?.close();
    for (const m of this.mirrors) m.stop();
  }

  /**
   * Heartbeats (and answers to the leader's probe) come from their own thread: no busy sync delays
   * them. Until that thread is connected they go out on the main connection.
   */
  private startHeartbeat(): void {
    const { node, log, heartbeat } = this.opts;
    this.heartbeat = new HeartbeatThread({ ...heartbeat, node, name: `meshd-${node.hostname}`, log: log.child({ part: 'heartbeat' }), interim: this.opts.nc });
    this.heartbeat.start();
  }

  /** Joins through any manager, retrying until one answers. */
  private async register(signal: AbortSignal): Promise<void> {
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await request(this.opts.nc, SUBJECTS.register(this.opts.node.id), this.opts.node, 5_000);
        return;
      } catch (err) {
        if (attempt % 10 === 1) this.opts.log.warn('join failed; retrying', { err });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /**
   * Writes a task's status. One that cannot be written (NATS unreachable) is kept, newest per
   * task, and written again every second until it goes through, so managers catch up.
   */
  private async report(status: TaskStatus): Promise<void> {
    this.latest.set(status.taskId, status);
    await this.send(status.taskId);
  }

  private async send(taskId: string): Promise<void> {
    const status = this.latest.get(taskId);
    if (!status) return;
    try {
      await this.opts.buckets.status.put(`${status.nodeId}.${status.taskId}`, encode(status));
      if (this.latest.get(taskId) === status) this.latest.delete(taskId);
      this.unsent.delete(taskId);
    } catch (err) {
      // A newer status being written meanwhile supersedes this one.
      if (this.latest.get(taskId) !== status) return;
      if (!this.unsent.has(taskId)) this.opts.log.warn('status report failed; will retry', { task: taskId, err });
      this.unsent.add(taskId);
      this.retryTimer ??= setTimeout(() => void this.resend(), 1_000);
    }
  }

  private async resend(): Promise<void> {
    this.retryTimer = undefined;
    for (const id of [...this.unsent]) {
      // A task removed meanwhile needs no status (writing one would leave an orphan record).
      if (!this.taskKnown(id)) {
        this.unsent.delete(id);
        this.latest.delete(id);
        continue;
      }
      await this.send(id);
    }
  }
}
