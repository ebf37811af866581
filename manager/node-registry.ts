import type { NatsConnection, Subscription } from 'nats';
import type { Buckets } from '../core/state/buckets.js';
import type { NodeRecord } from '../core/model.js';
import { NODE_DOWN_AFTER_MS, SUBJECTS } from '../core/names.js';
import { CHECK_INTERVAL_MS, LivenessMonitor, livenessTimes } from './liveness.js';
import { decode, encode } from '../core/state/codec.js';
import type { KvMirror } from '../core/state/mirror.js';
import type { Logger } from '../core/log.js';

/** What a node says about itself when it joins and in every heartbeat. */
export interface NodeAnnouncement {
  id: string;
  hostname: string;
  role: NodeRecord['role'];
  runsTasks: boolean;
  addr: string;
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
  /** Suspect/probe/down decisions (manager/liveness.ts). */
  private readonly liveness: LivenessMonitor;

  /** No heartbeat for this long: the node is down (`--node-down-after`). */
  private get downAfterMs(): number {
    return this.deps.downAfterMs ?? NODE_DOWN_AFTER_MS;
  }

  constructor(
    private readonly deps: { nc: NatsConnection; buckets: Buckets; nodes: KvMirror<NodeRecord>; log: Logger; isLeader: () => boolean; downAfterMs?: number },
  ) {
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
    this.timer = setInterval(() => void this.check().catch((err) => this.deps.log.warn('node check failed', { err })), CHECK_INTERVAL_MS);
  }

  stop(): void {
    this.sub?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
  }

  /** Called when this manager becomes leader: nodes get a full grace period from now. */
  becameLeader(): void {
    this.liveness.becameLeader();
  }

  async register(a: NodeAnnouncement): Promise<NodeRecord> {
    const now = new Date().toISOString();
    const prior = this.deps.nodes.get(a.id);
    const record: NodeRecord = {
      ...a,
      status: 'ready',
      statusMessage: '',
      joinedAt: prior?.joinedAt ?? now,
      updatedAt: now,
    };
    await this.deps.buckets.nodes.put(a.id, encode(record));
    this.lastSeen.set(a.id, performance.now());
    this.deps.log.info('node registered', { node: a.hostname, id: a.id, role: a.role });
    return record;
  }

  private async check(): Promise<void> {
    if (!this.deps.isLeader()) return;
    await this.liveness.check();
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

/** The leader's direct probe of a suspect node: true when its heartbeat thread answered in time. */
async function probeNode(nc: NatsConnection, nodeId: string, timeoutMs: number): Promise<boolean> {
  try {
    await nc.request(SUBJECTS.livenessProbe(nodeId), new Uint8Array(), { timeout: timeoutMs });
    return true;
  } catch {
    return false;
  }
}
