/**
 * Placement constraints against a node. `node.labels.*` are the labels managers set; `engine.labels.*`
 * are what the node reports about itself (`meshd --label`), as in Docker.
 */
import type { Constraint, NodeRecord } from './model.js';

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
