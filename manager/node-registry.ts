import type { NatsConnection, Subscription } from 'nats';
import type { Buckets } from '../core/state/buckets.js';
import type { NodeRecord } from '../core/model.js';
import { NODE_DOWN_AFTER_MS, SUBJECTS } from '../core/names.js';

/** How often the leader looks for silent nodes (a down node is noticed at most this late). */
const NODE_CHECK_INTERVAL_MS = 100;
import { decode, encode } from '../core/state/codec.js';
import { registrationRecord } from './node-record.js';
import type { KvMirror } from '../core/state/mirror.js';
import type { Logger } from '../core/log.js';

/** What a node says about itself when it joins and in every heartbeat. */
export interface NodeAnnouncement {
  id: string;
  hostname: string;
  role: NodeRecord['role'];
  runsTasks: boolean;
  addr: string;
  /** `meshd --label`: recorded as the node's engine labels (`engine.labels.*`), never as node labels. */
  labels: Record<string, string>;
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
  private leaderSince = 0;

  /** No heartbeat for this long: the node is down (`--node-down-after`). */
  private get downAfterMs(): number {
    return this.deps.downAfterMs ?? NODE_DOWN_AFTER_MS;
  }

  constructor(
    private readonly deps: { nc: NatsConnection; buckets: Buckets; nodes: KvMirror<NodeRecord>; log: Logger; isLeader: () => boolean; downAfterMs?: number },
  ) {}

  start(): void {
    this.sub = this.deps.nc.subscribe(SUBJECTS.heartbeatAll);
    void (async () => {
      for await (const m of this.sub!) {
        const a = decode<NodeAnnouncement>(m.data);
        // Only a node's own subject counts (its NATS permissions allow no other).
        if (m.subject !== SUBJECTS.heartbeat(a.id)) continue;
        this.lastSeen.set(a.id, performance.now());
        if (a.restartGraceMs) this.graceUntil.set(a.id, performance.now() + a.restartGraceMs);
        else this.graceUntil.delete(a.id);
      }
    })();
    this.timer = setInterval(() => void this.check().catch((err) => this.deps.log.warn('node check failed', { err })), NODE_CHECK_INTERVAL_MS);
  }

  stop(): void {
    this.sub?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
  }

  /** Called when this manager becomes leader: nodes get a full grace period from now. */
  becameLeader(): void {
    this.leaderSince = performance.now();
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
    // Both reads at once: the worker's register request waits 5 s before it asks again.
    const authEntry = this.deps.buckets.auth ? this.deps.buckets.auth.get(a.id) : Promise.resolve(null);
    for (let attempt = 1; ; attempt++) {
      const [auth, prior] = await Promise.all([authEntry, kv.get(a.id)]);
      const joinedAsWorker = auth?.operation === 'PUT';
      const held = prior?.operation === 'PUT' ? decode<NodeRecord>(prior.value) : undefined;
      const { record, refusedRole, droppedLegacyLabels } = registrationRecord({ held, announced: a, joinedAsWorker, now: new Date().toISOString() });
      try {
        if (prior) await kv.update(a.id, encode(record), prior.revision);
        else await kv.create(a.id, encode(record));
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
    const now = performance.now();
    for (const node of this.deps.nodes.values()) {
      const seen = Math.max(this.lastSeen.get(node.id) ?? 0, this.leaderSince);
      const silent = now - seen;
      const graced = (this.graceUntil.get(node.id) ?? 0) > now;
      if (node.status === 'ready' && silent > this.downAfterMs && !graced) {
        await this.setStatus(node, 'down', `no heartbeat for ${Math.round(silent)} ms`);
      } else if (node.status === 'down' && (this.lastSeen.get(node.id) ?? 0) > now - this.downAfterMs) {
        await this.setStatus(node, 'ready', '');
      }
    }
  }

  private async setStatus(node: NodeRecord, status: NodeRecord['status'], message: string): Promise<void> {
    const revision = this.deps.nodes.revision(node.id);
    if (revision === undefined) return;
    const next: NodeRecord = { ...node, status, statusMessage: message, updatedAt: new Date().toISOString() };
    try {
      await this.deps.buckets.nodes.update(node.id, encode(next), revision);
      this.deps.log.info(`node ${status}`, { node: node.hostname, reason: message || 'heartbeat' });
    } catch {
      // changed meanwhile (re-registration); the next check sees the new record
    }
  }
}
