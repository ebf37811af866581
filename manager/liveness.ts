/**
 * Node liveness on the leader, without false alarms:
 *
 *   ready ──silent > suspectAfter──▶ suspect: probe it directly (mesh.node.<id>.live.ping, answered
 *     ▲                               by the node's heartbeat thread); an answer is a sign of life
 *     │                               ──silent > downAfter AND a probe sent after its last sign of
 *     │                                 life went unanswered AND this leader was not starved──▶ down
 *     └──────────── a heartbeat within downAfter ◀──────────────────────────────────────────┘
 *
 * The leader's own starvation: its check runs every CHECK_INTERVAL_MS; a gap much longer than that
 * means this process (not the nodes) stalled, and heartbeats that arrived meanwhile still wait in
 * the socket (timers run before I/O). After such a gap it judges nobody for `blindMs`, and a probe
 * that timed out across a stall does not count.
 *
 * `planLiveness` is the pure decision (unit-tested); `LivenessMonitor` keeps the state and acts.
 */
import type { NodeRecord } from '../core/model.js';
import { HEARTBEAT_INTERVAL_MS, NODE_SUSPECT_BEFORE_DOWN_MS } from '../core/names.js';
import type { Logger } from '../core/log.js';

/** How often the leader looks for silent nodes (a down node is noticed at most this late). */
export const CHECK_INTERVAL_MS = 100;
/** A gap between two checks longer than this: the leader itself was starved. */
export const STALL_MS = 400;

export interface LivenessTimes {
  downAfterMs: number;
  suspectAfterMs: number;
  probeTimeoutMs: number;
  /** After the leader's own stall, nobody is judged for this long. */
  blindMs: number;
}

export function livenessTimes(downAfterMs: number): LivenessTimes {
  const margin = Math.min(NODE_SUSPECT_BEFORE_DOWN_MS, downAfterMs / 2);
  return { downAfterMs, suspectAfterMs: downAfterMs - margin, probeTimeoutMs: Math.min(500, margin), blindMs: HEARTBEAT_INTERVAL_MS + 300 };
}

export interface ProbeState {
  inFlight: boolean;
  /** When the newest probe went unanswered (its timeout, counted only if the leader was not stalled). */
  failedAt?: number;
}

export interface LivenessInput {
  now: number;
  nodes: readonly NodeRecord[];
  /** Newest sign of life per node: heartbeat, registration or probe answer. */
  lastSeen: ReadonlyMap<string, number>;
  graceUntil: ReadonlyMap<string, number>;
  probes: ReadonlyMap<string, ProbeState>;
  /** Signs of life count from no earlier than this (became leader). */
  leaderSince: number;
  /** No Down verdict before this (the leader's own stall). */
  blindUntil: number;
  times: LivenessTimes;
}

export interface LivenessPlan {
  probe: string[];
  /** Nodes no longer suspect: forget their probes. */
  clear: string[];
  down: { node: NodeRecord; message: string }[];
  ready: NodeRecord[];
}

export function planLiveness(input: LivenessInput): LivenessPlan {
  const { now, times } = input;
  const plan: LivenessPlan = { probe: [], clear: [], down: [], ready: [] };
  for (const node of input.nodes) {
    const lastSeen = input.lastSeen.get(node.id) ?? 0;
    if (node.status === 'down') {
      if (lastSeen > now - times.downAfterMs) plan.ready.push(node);
      continue;
    }
    if (node.status !== 'ready') continue;
    const seen = Math.max(lastSeen, input.leaderSince);
    const silent = now - seen;
    const probe = input.probes.get(node.id);
    if (silent <= times.suspectAfterMs || (input.graceUntil.get(node.id) ?? 0) > now) {
      if (probe) plan.clear.push(node.id);
      continue;
    }
    if (!probe?.inFlight) plan.probe.push(node.id);
    const unanswered = probe?.failedAt !== undefined && probe.failedAt > seen;
    if (silent > times.downAfterMs && unanswered && now >= input.blindUntil) {
      plan.down.push({ node, message: `no heartbeat for ${Math.round(silent)} ms, probe unanswered` });
    }
  }
  return plan;
}

export interface LivenessMonitorDeps {
  times: LivenessTimes;
  lastSeen: Map<string, number>;
  graceUntil: ReadonlyMap<string, number>;
  nodes: () => NodeRecord[];
  /** Resolves true when the node answered within `timeoutMs`. */
  probe: (nodeId: string, timeoutMs: number) => Promise<boolean>;
  setStatus: (node: NodeRecord, status: NodeRecord['status'], message: string) => Promise<void>;
  log: Logger;
  /** Monotonic clock in ms (tests pass a fake). */
  clock?: () => number;
}

/** The leader's liveness loop: keeps probe state and its own stall record, acts on `planLiveness`. */
export class LivenessMonitor {
  private readonly probes = new Map<string, ProbeState>();
  private lastTick = 0;
  private blindUntil = 0;
  private leaderSince = 0;
  /** Leader stalls seen (longest gap), for the log and the drill. */
  private stalls = 0;
  /** A check is writing a verdict: the next tick only keeps the time (no second probe or write). */
  private busy = false;

  private readonly clock: () => number;

  constructor(private readonly deps: LivenessMonitorDeps) {
    this.clock = deps.clock ?? (() => performance.now());
  }

  becameLeader(now = this.clock()): void {
    this.leaderSince = now;
    this.lastTick = now;
    this.probes.clear();
  }

  async check(now = this.clock()): Promise<void> {
    const gap = this.lastTick ? now - this.lastTick : 0;
    this.lastTick = now;
    if (gap > STALL_MS) this.stalled(now, gap);
    if (this.busy) return;
    this.busy = true;
    try {
      await this.act(now);
    } finally {
      this.busy = false;
    }
  }

  private async act(now: number): Promise<void> {
    const plan = planLiveness({ now, nodes: this.deps.nodes(), lastSeen: this.deps.lastSeen, graceUntil: this.deps.graceUntil, probes: this.probes, leaderSince: this.leaderSince, blindUntil: this.blindUntil, times: this.deps.times });
    for (const id of plan.clear) this.probes.delete(id);
    for (const id of plan.probe) this.startProbe(id);
    for (const { node, message } of plan.down) {
      this.probes.delete(node.id);
      await this.deps.setStatus(node, 'down', message);
    }
    for (const node of plan.ready) await this.deps.setStatus(node, 'ready', '');
  }

  /** This process was starved for `gap` ms: judge nobody until heartbeats queued meanwhile are read. */
  private stalled(now: number, gap: number): void {
    this.stalls++;
    this.blindUntil = now + this.deps.times.blindMs;
    for (const p of this.probes.values()) delete p.failedAt;
    this.deps.log.warn('liveness check was starved; judging no node for a moment', { gapMs: Math.round(gap), stalls: this.stalls });
  }

  private startProbe(nodeId: string): void {
    // An earlier unanswered probe still counts while this one is out.
    const state: ProbeState = { inFlight: true, failedAt: this.probes.get(nodeId)?.failedAt };
    this.probes.set(nodeId, state);
    const node = this.deps.nodes().find((n) => n.id === nodeId);
    this.deps.log.info('node suspect: probing', { node: node?.hostname ?? nodeId, silentMs: Math.round(this.clock() - (this.deps.lastSeen.get(nodeId) ?? 0)) });
    void this.deps.probe(nodeId, this.deps.times.probeTimeoutMs).then((answered) => {
      const now = this.clock();
      if (this.probes.get(nodeId) !== state) return;
      state.inFlight = false;
      if (answered) {
        this.deps.lastSeen.set(nodeId, now);
        this.deps.log.info('node suspect: answered the probe', { node: node?.hostname ?? nodeId });
      } else if (now - this.lastTick <= STALL_MS && now >= this.blindUntil) {
        // A timeout that fired while this process was starved says nothing about the node.
        state.failedAt = now;
      }
    });
  }
}
