/** Placement constraints: `node.hostname == x`, `node.role != manager`, `node.labels.zone == a`, `engine.labels.ssd == true`, `node.id == ...`. */
import type { Constraint } from '../../core/model.js';
import { type Conv, describe, fail, ok } from './issues.js';

const SHAPE = /^\s*([^\s=!]+)\s*(==|!=)\s*(.*?)\s*$/;
const LABEL_KEY = /^(node|engine)\.labels\.[^\s=!]+$/;
const PLAIN_KEYS = new Set(['node.id', 'node.hostname', 'node.role']);
const ROLES = new Set(['manager', 'worker']);

export function parseConstraint(text: string): Conv<Constraint> {
  const m = SHAPE.exec(text);
  if (!m) return fail(`must look like "node.<key> == <value>" or "node.<key> != <value>", got ${describe(text)}`);
  const [, key = '', op, value = ''] = m;
  if (!PLAIN_KEYS.has(key) && !LABEL_KEY.test(key)) {
    return fail(`unsupported constraint key ${describe(key)}; use node.id, node.hostname, node.role, node.labels.<name> or engine.labels.<name>`);
  }
  if (value === '' || /[=!]=/.test(value)) return fail(`has no single value to compare with: ${describe(text)}`);
  if (key === 'node.role' && !ROLES.has(value)) return fail(`node.role must be manager or worker, got ${describe(value)}`);
  return ok({ key, op: op === '!=' ? '!=' : '==', value });
}
