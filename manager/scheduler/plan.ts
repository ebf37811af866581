import type { NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../../core/model.js';
import { TERMINAL_STATES } from '../../core/model.js';
import { addReserved, fits, NOTHING_RESERVED, reservedByNode, satisfies, type Reserved } from '../../core/placement.js';

export interface SchedulerState {
  nodes: readonly NodeRecord[];
  services: readonly ServiceRecord[];
  tasks: readonly TaskRecord[];
  statuses: ReadonlyMap<string, TaskStatus>;
}

export type SchedulerAction =
  | { type: 'create'; serviceId: string; slot: number; nodeId: string }
  | { type: 'shutdown'; taskId: string; reason: string }
  | { type: 'remove'; taskId: string; reason: string };

/**
 * The orchestrator as a pure function: from nodes, services, tasks and their reported states to
 * the task changes that make the cluster match the services. The executor applies them.
 */
export function planScheduling(state: SchedulerState): SchedulerAction[] {
  const nodes = new Map(state.nodes.map((n) => [n.id, n]));
  const services = new Map(state.services.map((s) => [s.id, s]));
  const actions: SchedulerAction[] = [];
  const live: TaskRecord[] = [];
  for (const task of state.tasks) {
    const verdict = lifecycleOf(task, nodes.get(task.nodeId), services.has(task.serviceId), state.statuses.get(task.id));
    if (verdict) actions.push({ ...verdict, taskId: task.id });
    else live.push(task);
  }
  const load = new Map<string, number>();
  for (const t of live) load.set(t.nodeId, (load.get(t.nodeId) ?? 0) + 1);
  const reserved = reservedByNode(live, services);
  const sorted = [...services.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const service of sorted) {
    const own = live.filter((t) => t.serviceId === service.id);
    const ctx: ServiceContext = { service, own, nodes: [...nodes.values()], statuses: state.statuses, load, reserved, actions };
    if (service.spec.mode === 'global') planGlobal(ctx);
    else planReplicated(ctx);
  }
  return actions;
}

/** Tasks that leave the live set this round: removed and down nodes, deleted services, finished shutdowns. */
function lifecycleOf(
  task: TaskRecord,
  node: NodeRecord | undefined,
  serviceExists: boolean,
  status: TaskStatus | undefined,
): { type: 'remove' | 'shutdown'; reason: string } | undefined {
  if (!node) return { type: 'remove', reason: `node ${task.nodeId} removed` };
  if (node.status === 'down') return { type: 'remove', reason: `node ${node.hostname} is down` };
  if (task.desiredState === 'shutdown') {
    if (status && TERMINAL_STATES.has(status.state)) return { type: 'remove', reason: `task ${status.state}` };
    return undefined;
  }
  if (!serviceExists) return { type: 'shutdown', reason: 'service removed' };
  return undefined;
}

interface ServiceContext {
  service: ServiceRecord;
  own: TaskRecord[];
  nodes: NodeRecord[];
  statuses: ReadonlyMap<string, TaskStatus>;
  load: Map<string, number>;
  /** What each node's tasks reserve (deploy.resources.reservations), as this round leaves it. */
  reserved: Map<string, Reserved>;
  actions: SchedulerAction[];
}

/** Whether a new task of the service fits on the node's unreserved capacity. */
function hasRoom(ctx: ServiceContext, node: NodeRecord): boolean {
  return fits(node, ctx.reserved.get(node.id) ?? NOTHING_RESERVED, ctx.service.spec.reservations);
}

/** May a task of the service stay on the node: a paused node keeps its tasks, a drained one does not. */
export function mayKeepTask(node: NodeRecord, service: ServiceRecord): boolean {
  // An image task needs a node with a container engine.
  if (service.spec.image !== undefined && node.containerEngine === undefined) return false;
  return node.status === 'ready' && node.runsTasks && node.availability !== 'drain' && satisfies(node, service.spec.constraints);
}

/** May the node receive a new task of the service: as `mayKeepTask`, and its availability is active. */
export function mayReceiveTask(node: NodeRecord, service: ServiceRecord): boolean {
  return (node.availability ?? 'active') === 'active' && mayKeepTask(node, service);
}

/** A task worth keeping in its slot: current spec, on a node that still qualifies, not rejected. */
function isGood(ctx: ServiceContext, task: TaskRecord): boolean {
  if (task.desiredState !== 'running' || task.specVersion !== ctx.service.version) return false;
  const node = ctx.nodes.find((n) => n.id === task.nodeId);
  if (!node || !mayKeepTask(node, ctx.service)) return false;
  return ctx.statuses.get(task.id)?.state !== 'rejected';
}

function shutdown(ctx: ServiceContext, task: TaskRecord, reason: string): void {
  if (task.desiredState !== 'running') return;
  ctx.actions.push({ type: 'shutdown', taskId: task.id, reason });
  ctx.load.set(task.nodeId, (ctx.load.get(task.nodeId) ?? 1) - 1);
  ctx.reserved.set(task.nodeId, addReserved(ctx.reserved.get(task.nodeId) ?? NOTHING_RESERVED, ctx.service.spec.reservations, -1));
}

function reasonFor(ctx: ServiceContext, task: TaskRecord): string {
  if (task.specVersion !== ctx.service.version) return 'service updated';
  if (ctx.statuses.get(task.id)?.state === 'rejected') return 'task rejected by its node';
  if (ctx.nodes.find((n) => n.id === task.nodeId)?.availability === 'drain') return 'node drained';
  return 'node no longer eligible';
}

function planReplicated(ctx: ServiceContext): void {
  const want = ctx.service.spec.replicas;
  const bySlot = new Map<number, TaskRecord[]>();
  for (const t of ctx.own) bySlot.set(t.slot, [...(bySlot.get(t.slot) ?? []), t]);
  for (const [slot, tasks] of bySlot) {
    if (slot > want || slot < 1) for (const t of tasks) shutdown(ctx, t, 'scaled down');
  }
  for (let slot = 1; slot <= want; slot++) {
    const tasks = (bySlot.get(slot) ?? []).filter((t) => t.desiredState === 'running');
    const keep = tasks.filter((t) => isGood(ctx, t)).sort(byCreated)[0];
    for (const t of tasks) if (t !== keep) shutdown(ctx, t, keep ? 'duplicate task for slot' : reasonFor(ctx, t));
    if (!keep) place(ctx, slot);
  }
}

function planGlobal(ctx: ServiceContext): void {
  for (const node of [...ctx.nodes].sort(byHostname)) {
    const tasks = ctx.own.filter((t) => t.nodeId === node.id && t.desiredState === 'running');
    if (!mayKeepTask(node, ctx.service)) {
      for (const t of tasks) shutdown(ctx, t, node.availability === 'drain' ? 'node drained' : 'node no longer eligible');
      continue;
    }
    const keep = tasks.filter((t) => isGood(ctx, t)).sort(byCreated)[0];
    for (const t of tasks) if (t !== keep) shutdown(ctx, t, keep ? 'duplicate task for node' : reasonFor(ctx, t));
    if (!keep && mayReceiveTask(node, ctx.service) && hasRoom(ctx, node)) create(ctx, 0, node.id);
  }
}

/** Spread: the eligible node with the fewest tasks of this service, then fewest tasks overall. */
function place(ctx: ServiceContext, slot: number): void {
  const candidates = ctx.nodes.filter((n) => mayReceiveTask(n, ctx.service) && hasRoom(ctx, n));
  if (candidates.length === 0) return;
  const perService = new Map<string, number>();
  for (const t of ctx.own) if (t.desiredState === 'running') perService.set(t.nodeId, (perService.get(t.nodeId) ?? 0) + 1);
  for (const a of ctx.actions) {
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
  ctx.actions.push({ type: 'create', serviceId: ctx.service.id, slot, nodeId });
  ctx.load.set(nodeId, (ctx.load.get(nodeId) ?? 0) + 1);
  ctx.reserved.set(nodeId, addReserved(ctx.reserved.get(nodeId) ?? NOTHING_RESERVED, ctx.service.spec.reservations));
}

function byCreated(a: TaskRecord, b: TaskRecord): number {
  return a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);
}

function byHostname(a: NodeRecord, b: NodeRecord): number {
  return a.hostname.localeCompare(b.hostname);
}
