/**
 * Placement constraints against a node. `node.labels.*` are the labels managers set; `engine.labels.*`
 * are what the node reports about itself (`meshd --label`), as in Docker.
 */
import type { Constraint, NodeRecord, ResourceReservations, ServiceRecord, TaskRecord } from './model.js';

/** A label's value; never an inherited property (`node.labels.constructor`). */
function own(labels: Record<string, string>, name: string): string | undefined {
  return Object.hasOwn(labels, name) ? labels[name] : undefined;
}

/** The value a constraint key reads from a node, or undefined (a missing label). */
function nodeValue(node: NodeRecord, key: string): string | undefined {
  if (key === 'node.hostname') return node.hostname;
  if (key === 'node.role') return node.role;
  if (key === 'node.id') return node.id;
  if (key.startsWith('node.labels.')) return own(node.labels, key.slice('node.labels.'.length));
  if (key.startsWith('engine.labels.')) return own(node.engineLabels ?? {}, key.slice('engine.labels.'.length));
  return undefined;
}

/** Whether a node satisfies every placement constraint (Docker semantics: != matches a missing label). */
export function satisfies(node: NodeRecord, constraints: readonly Constraint[]): boolean {
  return constraints.every((c) => {
    const v = nodeValue(node, c.key);
    return c.op === '==' ? v === c.value : v !== c.value;
  });
}

/** What the tasks on one node reserve, summed. */
export interface Reserved {
  nanoCpus: number;
  memoryBytes: number;
}

export const NOTHING_RESERVED: Reserved = { nanoCpus: 0, memoryBytes: 0 };

/** Whether a task reserving `want` fits beside what the node's tasks reserve; a node that reports no capacity takes any. */
export function fits(node: NodeRecord, reserved: Reserved, want: ResourceReservations | undefined): boolean {
  if (!want || !node.resources) return true;
  return reserved.nanoCpus + (want.nanoCpus ?? 0) <= node.resources.nanoCpus && reserved.memoryBytes + (want.memoryBytes ?? 0) <= node.resources.memoryBytes;
}

/** `reserved` with one task's reservation added (`sign` 1) or taken away (-1). */
export function addReserved(reserved: Reserved, want: ResourceReservations | undefined, sign: 1 | -1 = 1): Reserved {
  return { nanoCpus: reserved.nanoCpus + sign * (want?.nanoCpus ?? 0), memoryBytes: reserved.memoryBytes + sign * (want?.memoryBytes ?? 0) };
}

/** What each node's tasks that are meant to run reserve. */
export function reservedByNode(tasks: Iterable<TaskRecord>, services: ReadonlyMap<string, ServiceRecord>): Map<string, Reserved> {
  const out = new Map<string, Reserved>();
  for (const t of tasks) {
    if (t.desiredState !== 'running') continue;
    const want = services.get(t.serviceId)?.spec.reservations;
    if (want) out.set(t.nodeId, addReserved(out.get(t.nodeId) ?? NOTHING_RESERVED, want));
  }
  return out;
}
