import type { NodeRecord, ServiceRecord, TaskRecord, TaskStatus, UpdateStatus } from '../../core/model.js';
import { runsCurrentSpec, TERMINAL_STATES } from '../../core/model.js';
import { addReserved, fits, NOTHING_RESERVED, reservedByNode, satisfies, type Reserved } from '../../core/placement.js';
import { failureOf, monitorOver, nextUpdateStatus, pacingOf, timelessView, updatePaused, updateUnderWay, type RolloutView } from './rollout.js';

export interface SchedulerState {
  nodes: readonly NodeRecord[];
  services: readonly ServiceRecord[];
  tasks: readonly TaskRecord[];
  statuses: ReadonlyMap<string, TaskStatus>;
  /** The leader's clock and observations, for paced updates (default: none, every serving task serves everywhere). */
  view?: RolloutView;
  /** Wall-clock time for the update statuses written (ISO). */
  nowIso?: string;
}

export type SchedulerAction =
  | { type: 'create'; serviceId: string; slot: number; nodeId: string }
  | { type: 'shutdown'; taskId: string; reason: string }
  | { type: 'remove'; taskId: string; reason: string }
  /** A shut-down task kept as its slot's history: its addresses go back to the pool. */
  | { type: 'retire'; taskId: string }
  | { type: 'update-status'; serviceId: string; status: UpdateStatus }
  /** `failure_action: rollback`: the service returns to its previous spec. */
  | { type: 'rollback'; serviceId: string; reason: string };

/** How many shut-down tasks each slot keeps for `service ps` (Docker keeps 5 tasks per slot in all). */
export const HISTORY_PER_SLOT = 4;

export interface SchedulingPlan {
  actions: SchedulerAction[];
  /** Services with no replacement in flight this pass (the delay between batches counts from then). */
  idle: Set<string>;
  /** When a pass is next needed for a timer (a batch delay, a monitor period), in ms from `view.now`. */
  wakeInMs?: number;
}

/**
 * The orchestrator as a pure function: from nodes, services, tasks and their reported states to
 * the task changes that make the cluster match the services. The executor applies them.
 */
export function planScheduling(state: SchedulerState): SchedulerAction[] {
  return schedulingPlan(state).actions;
}

export function schedulingPlan(state: SchedulerState): SchedulingPlan {
  const nodes = new Map(state.nodes.map((n) => [n.id, n]));
  const services = new Map(state.services.map((s) => [s.id, s]));
  const view = state.view ?? timelessView(servingByStatus(state));
  const plan: SchedulingPlan = { actions: [], idle: new Set() };
  const live: TaskRecord[] = [];
  for (const task of state.tasks) {
    const verdict = lifecycleOf(task, nodes.get(task.nodeId), services.has(task.serviceId), state.statuses.get(task.id));
    if (verdict) plan.actions.push({ ...verdict, taskId: task.id } as SchedulerAction);
    else live.push(task);
  }
  pruneHistory(state.tasks, state.statuses, plan.actions);
  const load = new Map<string, number>();
  for (const t of live) if (t.desiredState === 'running') load.set(t.nodeId, (load.get(t.nodeId) ?? 0) + 1);
  const reserved = reservedByNode(live, services);
  const sorted = [...services.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const service of sorted) {
    const own = live.filter((t) => t.serviceId === service.id);
    const ctx: ServiceContext = { service, own, nodes: [...nodes.values()], statuses: state.statuses, load, reserved, plan, view, nowIso: state.nowIso ?? new Date().toISOString() };
    if (service.spec.mode === 'global') planGlobal(ctx);
    else planReplicated(ctx);
  }
  return plan;
}

/** Without observations: a task serves everywhere once it serves (running, healthy). */
function servingByStatus(state: SchedulerState): Set<string> {
  const out = new Set<string>();
  for (const t of state.tasks) {
    const st = state.statuses.get(t.id);
    if (t.desiredState === 'running' && st?.state === 'running' && (st.health === undefined || st.health === 'healthy')) out.add(t.id);
  }
  return out;
}

/**
 * Tasks that leave the live set this round: gone nodes and deleted services remove them; a
 * finished shutdown stays as history (its addresses released once).
 */
function lifecycleOf(
  task: TaskRecord,
  node: NodeRecord | undefined,
  serviceExists: boolean,
  status: TaskStatus | undefined,
): { type: 'remove' | 'shutdown'; reason: string } | { type: 'retire' } | undefined {
  if (!node) return { type: 'remove', reason: `node ${task.nodeId} removed` };
  if (node.status === 'down') return { type: 'remove', reason: `node ${node.hostname} is down` };
  if (task.desiredState === 'shutdown') {
    if (!status || !TERMINAL_STATES.has(status.state)) return undefined;
    if (!serviceExists) return { type: 'remove', reason: `task ${status.state}` };
    return task.addresses.length > 0 ? { type: 'retire' } : undefined;
  }
  if (!serviceExists) return { type: 'shutdown', reason: 'service removed' };
  return undefined;
}

/** Beyond HISTORY_PER_SLOT finished tasks per slot (per node for global services), the oldest go. */
function pruneHistory(tasks: readonly TaskRecord[], statuses: ReadonlyMap<string, TaskStatus>, actions: SchedulerAction[]): void {
  const bySlot = new Map<string, TaskRecord[]>();
  for (const t of tasks) {
    const st = statuses.get(t.id);
    if (t.desiredState !== 'shutdown' || !st || !TERMINAL_STATES.has(st.state)) continue;
    const key = `${t.serviceId}/${t.slot > 0 ? t.slot : t.nodeId}`;
    bySlot.set(key, [...(bySlot.get(key) ?? []), t]);
  }
  for (const finished of bySlot.values()) {
    const old = finished.sort(byCreated).slice(0, Math.max(0, finished.length - HISTORY_PER_SLOT));
    for (const t of old) if (!actions.some((a) => 'taskId' in a && a.taskId === t.id)) actions.push({ type: 'remove', taskId: t.id, reason: 'task history limit' });
  }
}

interface ServiceContext {
  service: ServiceRecord;
  own: TaskRecord[];
  nodes: NodeRecord[];
  statuses: ReadonlyMap<string, TaskStatus>;
  load: Map<string, number>;
  /** What each node's tasks reserve (deploy.resources.reservations), as this round leaves it. */
  reserved: Map<string, Reserved>;
  plan: SchedulingPlan;
  view: RolloutView;
  nowIso: string;
}

/** Whether a new task of the service fits on the node's unreserved capacity. */
function hasRoom(ctx: ServiceContext, node: NodeRecord): boolean {
  return fits(node, ctx.reserved.get(node.id) ?? NOTHING_RESERVED, ctx.service.spec.reservations);
}

/** Whether the node may keep a task of the service: ready, runs tasks, not draining, qualifies. */
export function mayKeepTask(node: NodeRecord, service: ServiceRecord): boolean {
  // An image task needs a node with a container engine.
  if (service.spec.image !== undefined && node.containerEngine === undefined) return false;
  return node.status === 'ready' && node.runsTasks && (node.availability ?? 'active') !== 'drain' && satisfies(node, service.spec.constraints);
}

/** Whether the node may receive a new task of the service (a paused node keeps its tasks, takes none). */
export function mayReceiveTask(node: NodeRecord, service: ServiceRecord): boolean {
  return mayKeepTask(node, service) && (node.availability ?? 'active') === 'active';
}

/** A task worth keeping in its slot: current spec, on a node that still qualifies, not rejected. */
function isGood(ctx: ServiceContext, task: TaskRecord): boolean {
  if (task.desiredState !== 'running' || !runsCurrentSpec(ctx.service, task)) return false;
  const node = ctx.nodes.find((n) => n.id === task.nodeId);
  if (!node || !mayKeepTask(node, ctx.service)) return false;
  return ctx.statuses.get(task.id)?.state !== 'rejected';
}

function shutdown(ctx: ServiceContext, task: TaskRecord, reason: string): void {
  if (task.desiredState !== 'running') return;
  ctx.plan.actions.push({ type: 'shutdown', taskId: task.id, reason });
  ctx.load.set(task.nodeId, (ctx.load.get(task.nodeId) ?? 1) - 1);
  ctx.reserved.set(task.nodeId, addReserved(ctx.reserved.get(task.nodeId) ?? NOTHING_RESERVED, ctx.service.spec.reservations, -1));
}

function reasonFor(ctx: ServiceContext, task: TaskRecord): string {
  if (ctx.statuses.get(task.id)?.state === 'rejected') return 'task rejected by its node';
  const node = ctx.nodes.find((n) => n.id === task.nodeId);
  if (node && node.availability === 'drain') return 'node drained';
  if (!runsCurrentSpec(ctx.service, task)) return 'service updated';
  return 'node no longer eligible';
}

/** A slot (or, for a global service, a node) whose task must be replaced, paced by the update config. */
interface Pending {
  slot: number;
  nodeId?: string;
  stale: TaskRecord[];
}

/** The slots of one service as this pass finds them. */
interface Slots {
  pending: Pending[];
  /** Replacements started and not yet serving on every node (or whose predecessor has not left). */
  inFlight: number;
  /** Tasks of the update under way (current version), for its failure and monitor checks. */
  fresh: TaskRecord[];
  /** Tasks of the update under way that their node rejected this pass (they leave at once). */
  rejected: TaskRecord[];
}

function planReplicated(ctx: ServiceContext): void {
  const want = ctx.service.spec.replicas;
  const bySlot = new Map<number, TaskRecord[]>();
  for (const t of ctx.own) if (t.desiredState === 'running') bySlot.set(t.slot, [...(bySlot.get(t.slot) ?? []), t]);
  for (const [slot, tasks] of bySlot) {
    if (slot > want || slot < 1) for (const t of tasks) shutdown(ctx, t, 'scaled down');
  }
  const slots: Slots = { pending: [], inFlight: 0, fresh: [], rejected: [] };
  for (let slot = 1; slot <= want; slot++) {
    const tasks = bySlot.get(slot) ?? [];
    const [keep, ...extra] = tasks.filter((t) => isGood(ctx, t)).sort(byCreated);
    for (const t of extra) shutdown(ctx, t, 'duplicate task for slot');
    const stale = settleStale(ctx, slots, tasks.filter((t) => !isGood(ctx, t)));
    if (keep) trackSuccessor(ctx, slots, keep, stale);
    else if (stale.length) slots.pending.push({ slot, stale });
    else place(ctx, slot);
  }
  rollOn(ctx, slots);
}

function planGlobal(ctx: ServiceContext): void {
  const slots: Slots = { pending: [], inFlight: 0, fresh: [], rejected: [] };
  for (const node of [...ctx.nodes].sort(byHostname)) {
    const tasks = ctx.own.filter((t) => t.nodeId === node.id && t.desiredState === 'running');
    if (!mayKeepTask(node, ctx.service)) {
      for (const t of tasks) shutdown(ctx, t, reasonFor(ctx, t));
      continue;
    }
    const [keep, ...extra] = tasks.filter((t) => isGood(ctx, t)).sort(byCreated);
    for (const t of extra) shutdown(ctx, t, 'duplicate task for node');
    const stale = settleStale(ctx, slots, tasks.filter((t) => !isGood(ctx, t)));
    if (keep) trackSuccessor(ctx, slots, keep, stale);
    else if (stale.length) slots.pending.push({ slot: 0, nodeId: node.id, stale });
    else if (mayReceiveTask(node, ctx.service) && hasRoom(ctx, node)) create(ctx, 0, node.id);
  }
  rollOn(ctx, slots);
}

/** Rejected tasks leave at once (nothing to hand off); the rest wait for their paced replacement. */
function settleStale(ctx: ServiceContext, slots: Slots, stale: TaskRecord[]): TaskRecord[] {
  for (const t of stale) {
    if (ctx.statuses.get(t.id)?.state !== 'rejected') continue;
    shutdown(ctx, t, reasonFor(ctx, t));
    if (t.specVersion === ctx.service.version && updateUnderWay(ctx.service)) slots.rejected.push(t);
  }
  return stale.filter((t) => ctx.statuses.get(t.id)?.state !== 'rejected');
}

/**
 * A slot with a current task. Its predecessors (start-first) leave once it serves on every node;
 * until it does (and has not failed), it is in flight: no further batch of an update or a drain
 * starts while the service has a task on its way in.
 */
function trackSuccessor(ctx: ServiceContext, slots: Slots, keep: TaskRecord, stale: TaskRecord[]): void {
  const update = updateUnderWay(ctx.service);
  // Only tasks this update made count (a rollback keeps the tasks it never replaced, whatever their past).
  if (update && keep.specVersion === update.version) slots.fresh.push(keep);
  const serving = ctx.view.servingEverywhere.has(keep.id);
  if (serving) for (const t of stale) shutdown(ctx, t, `replaced by ${keep.name} (${keep.id.slice(0, 12)})`);
  const failed = failureOf(keep, ctx.statuses.get(keep.id), ctx.view, pacingOf(ctx.service).monitorMs) !== undefined;
  if (!serving && !failed) slots.inFlight++;
}

/**
 * The update's next step: a failure past the tolerated ratio applies the failure action; else,
 * with nothing in flight and the delay since the last batch over, the next batch of pending
 * slots is replaced (stop-first: predecessor out, successor in, together; start-first: the
 * successor first); with nothing left, the update completes once its monitor period is over.
 */
function rollOn(ctx: ServiceContext, slots: Slots): void {
  const { service, view } = ctx;
  const config = pacingOf(service);
  const update = updateUnderWay(service);
  if (slots.inFlight === 0) ctx.plan.idle.add(service.id);
  if (update && failUpdate(ctx, slots)) return;
  if (slots.pending.length > 0 && !updatePaused(service) && slots.inFlight === 0) {
    const idleSince = view.idleSince.get(service.id) ?? view.now;
    const waitMs = idleSince + config.delayMs - view.now;
    if (waitMs > 0) return wake(ctx, waitMs);
    const batch = config.parallelism === 0 ? slots.pending : slots.pending.slice(0, config.parallelism);
    for (const p of batch) replace(ctx, p, config.order);
    return;
  }
  if (update && slots.pending.length === 0 && slots.inFlight === 0) {
    if (!monitorOver(slots.fresh, view, config.monitorMs)) return wake(ctx, config.monitorMs);
    ctx.plan.actions.push({ type: 'update-status', serviceId: service.id, status: nextUpdateStatus(service, { type: 'completed' }, ctx.nowIso) });
  }
}

/** Applies the failure action when more tasks failed than `max_failure_ratio` allows; true when it stopped the update. */
function failUpdate(ctx: ServiceContext, slots: Slots): boolean {
  const { service } = ctx;
  const config = pacingOf(service);
  if (config.failureAction === 'continue') return false;
  const failures = [...slots.rejected, ...slots.fresh].flatMap((t) => {
    const why = failureOf(t, ctx.statuses.get(t.id), ctx.view, config.monitorMs);
    return why === undefined ? [] : [{ task: t, why }];
  });
  const total = Math.max(1, service.spec.mode === 'global' ? slots.fresh.length + slots.rejected.length + slots.pending.length : service.spec.replicas);
  const first = failures[0];
  if (!first || failures.length / total <= config.maxFailureRatio) return false;
  if (config.failureAction === 'rollback' && !service.updateStatus?.state.startsWith('rollback')) {
    ctx.plan.actions.push({ type: 'rollback', serviceId: service.id, reason: `update rolled back due to failure or early termination of task ${first.task.name}: ${first.why}` });
  } else {
    ctx.plan.actions.push({ type: 'update-status', serviceId: service.id, status: nextUpdateStatus(service, { type: 'paused', ...first }, ctx.nowIso) });
  }
  return true;
}

function replace(ctx: ServiceContext, p: Pending, order: 'stop-first' | 'start-first'): void {
  if (order === 'stop-first') for (const t of p.stale) shutdown(ctx, t, reasonFor(ctx, t));
  if (p.nodeId !== undefined) {
    const node = ctx.nodes.find((n) => n.id === p.nodeId);
    if (node && mayReceiveTask(node, ctx.service) && hasRoom(ctx, node)) create(ctx, 0, node.id);
  } else place(ctx, p.slot);
}

function wake(ctx: ServiceContext, inMs: number): void {
  ctx.plan.wakeInMs = Math.min(ctx.plan.wakeInMs ?? Infinity, Math.max(1, inMs));
}

/** Spread: the eligible node with the fewest tasks of this service, then fewest tasks overall. */
function place(ctx: ServiceContext, slot: number): void {
  const candidates = ctx.nodes.filter((n) => mayReceiveTask(n, ctx.service) && hasRoom(ctx, n));
  if (candidates.length === 0) return;
  const perService = new Map<string, number>();
  for (const t of ctx.own) if (t.desiredState === 'running') perService.set(t.nodeId, (perService.get(t.nodeId) ?? 0) + 1);
  for (const a of ctx.plan.actions) {
    if (a.type === 'create' && a.serviceId === ctx.service.id) perService.set(a.nodeId, (perService.get(a.nodeId) ?? 0) + 1);
    if (a.type === 'shutdown') {
      const t = ctx.own.find((x) => x.id === a.taskId);
      if (t) perService.set(t.nodeId, (perService.get(t.nodeId) ?? 1) - 1);
    }
  }
  const best = candidates.sort(
    (a, b) =>
      (perService.get(a.id) ?? 0) - (perService.get(b.id) ?? 0) ||
      (ctx.load.get(a.id) ?? 0) - (ctx.load.get(b.id) ?? 0) ||
      byHostname(a, b),
  )[0]!;
  create(ctx, slot, best.id);
}

function create(ctx: ServiceContext, slot: number, nodeId: string): void {
  ctx.plan.actions.push({ type: 'create', serviceId: ctx.service.id, slot, nodeId });
  ctx.load.set(nodeId, (ctx.load.get(nodeId) ?? 0) + 1);
  ctx.reserved.set(nodeId, addReserved(ctx.reserved.get(nodeId) ?? NOTHING_RESERVED, ctx.service.spec.reservations));
}

function byCreated(a: TaskRecord, b: TaskRecord): number {
  return a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);
}

function byHostname(a: NodeRecord, b: NodeRecord): number {
  return a.hostname.localeCompare(b.hostname);
}
