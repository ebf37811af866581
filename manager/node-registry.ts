import type { NatsConnection, Subscription } from 'nats';
import type { Buckets } from '../core/state/buckets.js';
import type { NodeRecord } from '../core/model.js';
import { NODE_DOWN_AFTER_MS, SUBJECTS } from '../core/names.js';
import type { KvMirror } from '../core/state/mirror.js';
import type { Logger } from '../core/log.js';
import { AuthError } from '../core/errors.js';
import { route, serve } from '../core/rpc.js';
import * as W from '../core/wire/schemas.js';
import { encodeAs, tryDecodeAs } from '../core/wire/decode.js';
import { RateLimitedReporter } from '../core/wire/reporter.js';
import { SenderLimiter } from '../core/wire/limiter.js';
import { ANNOUNCEMENT_MAX_BYTES, HEARTBEAT_RATE, REGISTER_RATE } from '../core/wire/limits.js';

import { CHECK_INTERVAL_MS, LivenessMonitor, livenessTimes } from './liveness.js';
import { registrationRecord } from './node-record.js';

/** What a node says about itself when it joins and in every heartbeat. */
export interface NodeAnnouncement {
  id: string;
  hostname: string;
  role: NodeRecord['role'];
  runsTasks: boolean;
  addr: string;
  /** `meshd --label`: recorded as the node's engine labels (`engine.labels.*`), never as node labels. */
  labels: Record<string, string>;
  /** The container engine that runs image tasks here (`podman 4.3.1`); absent: none, no image tasks. */
  containerEngine?: string;
  /** Where this node's meshd serves the CNI plugin. */
  cniSocket?: string;
  /** What it offers tasks (CPUs, memory): reservations are counted against it. */
  resources?: NodeRecord['resources'];
  /** Sent in the last heartbeat of a graceful stop: how long to wait before calling the node down. */
  restartGraceMs?: number;
}

/**
 * Node membership: registration requests, heartbeats, and (on the leader) marking a node down
 * after NODE_DOWN_AFTER_MS without a heartbeat, and ready again when heartbeats return.
 */
export class NodeRegistry {
  private readonly lastSeen = new Map<string, number>();
  /** A gracefully stopping node is given this long to come back before its tasks move. */
  private readonly graceUntil = new Map<string, number>();
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Bad heartbeats and registrations: logged once per sender per minute, then dropped. */
  private readonly reporter: RateLimitedReporter;
  /** Per-sender limits, applied to the subject before anything is parsed. */
  private readonly beats = new SenderLimiter({ ...HEARTBEAT_RATE });
  private readonly registrations = new SenderLimiter({ ...REGISTER_RATE });
  /** Suspect/probe/down decisions (manager/liveness.ts). */
  private readonly liveness: LivenessMonitor;

  /** No heartbeat for this long: the node is down (`--node-down-after`). */
  private get downAfterMs(): number {
    return this.deps.downAfterMs ?? NODE_DOWN_AFTER_MS;
  }

  constructor(
    private readonly deps: {
      nc: NatsConnection;
      buckets: Buckets;
      nodes: KvMirror<NodeRecord>;
      log: Logger;
      isLeader: () => boolean;
      downAfterMs?: number;
      /** Workers connect with credentials from mesh_auth (meshd's own NATS): one without a record was removed. */
      workersNeedCredentials?: boolean;
    },
  ) {
    this.reporter = new RateLimitedReporter({ log: deps.log });
    this.liveness = new LivenessMonitor({
      times: livenessTimes(this.downAfterMs),
      lastSeen: this.lastSeen,
      graceUntil: this.graceUntil,
      nodes: () => [...deps.nodes.values()],
      probe: (id, timeoutMs) => probeNode(deps.nc, id, timeoutMs),
      setStatus: (node, status, message) => this.setStatus(node, status, message),
      log: deps.log.child({ part: 'liveness' }),
    });
  }

  start(): void {
    // A callback, not an iterator: nothing queues up behind a flood, each beat is handled (or
    // dropped) as it arrives, and one bad beat cannot end the loop.
    this.sub = this.deps.nc.subscribe(SUBJECTS.heartbeatAll, {
      callback: (err, m) => {
        if (err) return this.deps.log.warn('heartbeat subscription error', { err });
        try {
          this.onHeartbeat(m.subject, m.data);
        } catch (e) {
          this.reporter.report({ sender: senderOf(m.subject, SUBJECTS.heartbeat('')), where: m.subject, reason: String(e) });
        }
      },
    });
    this.timer = setInterval(() => void this.check().catch((err) => this.deps.log.warn('node check failed', { err })), CHECK_INTERVAL_MS);
  }

  /**
   * One heartbeat, cheapest checks first: the sender (from the subject; its NATS permissions let
   * it publish on no other) must be a known node within its rate, before a byte is parsed.
   */
  onHeartbeat(subject: string, data: Uint8Array): void {
    const sender = senderOf(subject, SUBJECTS.heartbeat(''));
    if (!this.deps.nodes.get(sender)) return; // not registered (yet): its beats mean nothing
    if (!this.beats.take(sender)) return void this.reporter.report({ sender, where: subject, reason: 'heartbeat rate exceeded' });
    const r = tryDecodeAs(W.NodeAnnouncement, data, { maxBytes: ANNOUNCEMENT_MAX_BYTES });
    if (!r.ok) return void this.reporter.report({ sender, where: subject, reason: r.error.reason });
    const a = r.value;
    if (a.id !== sender) return void this.reporter.report({ sender, where: subject, reason: `announces node id ${a.id}` });
    this.lastSeen.set(a.id, performance.now());
    if (a.restartGraceMs) this.graceUntil.set(a.id, performance.now() + a.restartGraceMs);
    else this.graceUntil.delete(a.id);
  }

  /** Registrations on `mesh.register.<id>`: the id in the subject is the sender's own. */
  serveRegistration(queue: string): Subscription {
    return serve(this.deps.nc, {
      subject: SUBJECTS.registerAll,
      queue,
      log: this.deps.log,
      verbOf: () => 'register',
      senderOf: (s) => senderOf(s, SUBJECTS.register('')),
      limiter: this.registrations,
      reporter: this.reporter,
      routes: {
        register: route(W.NodeAnnouncement, async (a, msg) => {
          if (a.id !== senderOf(msg.subject, SUBJECTS.register(''))) throw new AuthError(`node ${a.hostname} registered for another node id`);
          return this.register(a);
        }, { maxBytes: ANNOUNCEMENT_MAX_BYTES }),
      },
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
  }

  /** How many nodes the registry keeps state for (tests: bounded by the cluster, not by senders). */
  get trackedSenders(): number {
    return Math.max(this.lastSeen.size, this.graceUntil.size, this.beats.size, this.registrations.size);
  }

  /** Called when this manager becomes leader: nodes get a full grace period from now. */
  becameLeader(): void {
    this.liveness.becameLeader();
  }

  /**
   * Records what a node announces about itself, under the managers' authority: its role follows
   * how it joined (a mesh_auth record = joined with a worker token = worker; only the manager
   * user can register an id without one), its announced labels are engine labels, and the
   * labels managers set (`node update`) are kept. Compare-and-swap, so a concurrent
   * `node update` or status change is never overwritten.
   */
  async register(a: NodeAnnouncement): Promise<NodeRecord> {
    const kv = this.deps.buckets.nodes;
    const auth = this.deps.buckets.auth;
    for (let attempt = 1; ; attempt++) {
      // Both reads at once (the worker's register request waits 5 s before it asks again), and
      // both again on a retry: a `node rm` in between deletes the auth record, then the node's.
      const [authEntry, prior] = await Promise.all([auth ? auth.get(a.id) : null, kv.get(a.id)]);
      const joinedAsWorker = authEntry?.operation === 'PUT';
      // Its credentials were revoked (meshctl node rm) while its connection was still open.
      if (this.deps.workersNeedCredentials && a.role === 'worker' && !joinedAsWorker) throw new AuthError(`node ${a.hostname} (${a.id}) was removed from the cluster: its credentials are revoked; delete its node.creds and join again with a worker token`);
      // An unreadable held record is replaced by a fresh registration (the node is re-admitted).
      const decoded = prior?.operation === 'PUT' ? tryDecodeAs(W.NodeRecord, prior.value) : undefined;
      const held = decoded?.ok ? decoded.value : undefined;
      const { record, refusedRole, droppedLegacyLabels } = registrationRecord({ held, announced: a, joinedAsWorker, now: new Date().toISOString() });
      try {
        if (prior) await kv.update(a.id, encodeAs(W.NodeRecord, record), prior.revision);
        else await kv.create(a.id, encodeAs(W.NodeRecord, record));
      } catch (err) {
        if (attempt >= 5) throw err;
        continue; // changed meanwhile: read again
      }
      this.lastSeen.set(a.id, performance.now());
      if (refusedRole) this.deps.log.warn('node announced a role it does not hold; registered as worker', { node: a.hostname, id: a.id, announced: refusedRole });
      if (droppedLegacyLabels) this.deps.log.warn('node labels from before engine labels were the node\'s own --label: kept as engine labels only; set node labels with meshctl node update', { node: a.hostname, labels: droppedLegacyLabels });
      this.deps.log.info('node registered', { node: a.hostname, id: a.id, role: record.role });
      return record;
    }
  }

  private async check(): Promise<void> {
    if (!this.deps.isLeader()) return;
    this.forgetRemoved(performance.now());
    await this.liveness.check();
  }

  /**
   * Per-node state is kept only for nodes in the cluster (and, for a moment, one that just
   * registered and is not in the mirror yet): the maps stay as small as the cluster.
   */
  private forgetRemoved(now: number): void {
    for (const [id, seen] of this.lastSeen) {
      if (this.deps.nodes.get(id) || now - seen < this.downAfterMs) continue;
      this.lastSeen.delete(id);
      this.graceUntil.delete(id);
      this.beats.forget(id);
      this.registrations.forget(id);
    }
    for (const id of this.graceUntil.keys()) if (!this.lastSeen.has(id)) this.graceUntil.delete(id);
  }

  private async setStatus(node: NodeRecord, status: NodeRecord['status'], message: string): Promise<void> {
    const revision = this.deps.nodes.revision(node.id);
    if (revision === undefined) return;
    const next: NodeRecord = { ...node, status, statusMessage: message, updatedAt: new Date().toISOString() };
    try {
      await this.deps.buckets.nodes.update(node.id, encodeAs(W.NodeRecord, next), revision);
      this.deps.log.info(`node ${status}`, { node: node.hostname, reason: message || 'heartbeat' });
    } catch {
      // changed meanwhile (re-registration); the next check sees the new record
    }
  }
}

/** The last subject token after `prefix` (`mesh.hb.<id>` -> `<id>`). */
function senderOf(subject: string, prefix: string): string {
  return subject.startsWith(prefix) ? subject.slice(prefix.length) : subject;
}

/** The leader's direct probe of a suspect node: true when its heartbeat thread answered in time. */
async function probeNode(nc: NatsConnection, nodeId: string, timeoutMs: number): Promise<boolean> {
  try {
    await nc.request(SUBJECTS.livenessProbe(nodeId), new Uint8Array(), { timeout: timeoutMs });
    return true;
  } catch {
    return false;
  }
}
