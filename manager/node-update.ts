/**
 * `meshctl node update [--availability active|pause|drain] [--label-add K=V] [--label-rm K] NODE`
 * (manager RPC `node.update`): the node labels placement constraints read (`node.labels.*`) and
 * the node's availability are set here and nowhere else. One compare-and-swap on the node record,
 * so a concurrent registration or status change is kept.
 */
import type { KV } from 'nats';
import type { NodeAvailability, NodeRecord } from '../core/model.js';
import * as W from '../core/wire/schemas.js';
import { encodeAs, tryDecodeAs } from '../core/wire/decode.js';
import { CasConflictError, NotFoundError, ValidationError } from '../core/errors.js';

export interface NodeUpdateRequest {
  /** Node id, unique id prefix, or hostname. */
  node: string;
  /** Labels to set (added or changed). */
  add: Record<string, string>;
  /** Label keys to remove. */
  rm: string[];
  /** `--availability`: absent = unchanged. */
  availability?: NodeAvailability;
}

export const AVAILABILITIES: readonly NodeAvailability[] = ['active', 'pause', 'drain'];
export const AVAILABILITY_PROBLEM = '--availability: must be active, pause or drain';

/** `--availability VALUE` checked: the value, or a problem naming the flag. */
export function availabilityOf(value: unknown): NodeAvailability {
  if (typeof value === 'string' && (AVAILABILITIES as readonly string[]).includes(value)) return value as NodeAvailability;
  throw new ValidationError([`${AVAILABILITY_PROBLEM}, not ${JSON.stringify(value)}`]);
}

export const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const MAX_VALUE = 256;
const MAX_LABELS = 64;

function labelProblems(field: string, key: unknown, value?: unknown): string[] {
  if (typeof key !== 'string' || !LABEL_KEY.test(key)) return [`${field}: label key ${JSON.stringify(key)} must be 1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit`];
  if (value === undefined) return [];
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value.length > MAX_VALUE || /[\u0000-\u001f\u007f]/.test(value)) return [`${field}: label ${key}: the value must be a string of at most ${MAX_VALUE} characters without control characters`];
  return [];
}

/** Checks a request from the wire; every problem names its field. */
export function checkNodeUpdate(p: unknown): NodeUpdateRequest {
  const r = (p ?? {}) as Partial<Record<keyof NodeUpdateRequest, unknown>>;
  const problems: string[] = [];
  if (typeof r.node !== 'string' || r.node.length === 0 || r.node.length > 253) problems.push('node: a node id or hostname is required');
  const add = r.add ?? {};
  const rm = r.rm ?? [];
  if (typeof add !== 'object' || add === null || Array.isArray(add)) problems.push('--label-add: must be an object of KEY: VALUE');
  else for (const [k, v] of Object.entries(add)) problems.push(...labelProblems('--label-add', k, v));
  if (!Array.isArray(rm)) problems.push('--label-rm: must be a list of keys');
  else for (const k of rm) problems.push(...labelProblems('--label-rm', k));
  let availability: NodeAvailability | undefined;
  if (r.availability !== undefined) {
    try {
      availability = availabilityOf(r.availability);
    } catch (err) {
      problems.push(...(err as ValidationError).problems);
    }
  }
  if (problems.length === 0 && Object.keys(add).length + (rm as unknown[]).length === 0 && availability === undefined) problems.push('node update: nothing to change (use --availability active|pause|drain, --label-add KEY=VALUE or --label-rm KEY)');
  if (problems.length) throw new ValidationError(problems);
  return { node: r.node as string, add: add as Record<string, string>, rm: rm as string[], ...(availability !== undefined && { availability }) };
}

/** Pure: the labels after the change (adds first, then removals, as docker does), or why not. */
export function applyLabelChanges(labels: Readonly<Record<string, string>>, add: Record<string, string>, rm: readonly string[]): Record<string, string> {
  const problems: string[] = [];
  const next: Record<string, string> = { ...labels };
  for (const [k, v] of Object.entries(add)) next[k] = v;
  for (const k of rm) {
    if (Object.hasOwn(add, k)) problems.push(`--label-rm: label ${k} is also in --label-add`);
    else if (!Object.hasOwn(next, k)) problems.push(`--label-rm: the node has no label ${k}`);
    else delete next[k];
  }
  if (Object.keys(next).length > MAX_LABELS) problems.push(`--label-add: a node has at most ${MAX_LABELS} labels`);
  if (problems.length) throw new ValidationError(problems);
  return next;
}

/** Finds a node by exact id, hostname, then unique id prefix. */
export function resolveNode(nodes: readonly NodeRecord[], ref: string): NodeRecord {
  const byId = nodes.find((n) => n.id === ref);
  if (byId) return byId;
  const byName = nodes.filter((n) => n.hostname === ref);
  if (byName.length === 1) return byName[0]!;
  if (byName.length > 1) throw new NotFoundError(`node ${ref} is ambiguous: ${byName.map((n) => n.id).join(', ')}`);
  const byPrefix = nodes.filter((n) => n.id.startsWith(ref));
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) throw new NotFoundError(`node ${ref} is ambiguous: ${byPrefix.map((n) => n.id).join(', ')}`);
  throw new NotFoundError(`node ${ref} not found`);
}

/** Applies a `node.update` request to the node record (CAS, a few attempts); returns the new record. */
export async function updateNode(deps: { kv: KV; nodes: () => NodeRecord[] }, payload: unknown): Promise<NodeRecord> {
  const req = checkNodeUpdate(payload);
  const { id } = resolveNode(deps.nodes(), req.node);
  for (let attempt = 1; attempt <= 5; attempt++) {
    const entry = await deps.kv.get(id);
    if (!entry || entry.operation !== 'PUT') throw new NotFoundError(`node ${req.node} not found`);
    const decoded = tryDecodeAs(W.NodeRecord, entry.value);
    if (!decoded.ok) throw new NotFoundError(`node ${req.node}: its record is unreadable (${decoded.error.reason})`);
    const node = decoded.value;
    // engineLabels set: a record from before engine labels keeps the labels a manager has now seen
    const next: NodeRecord = {
      ...node,
      labels: applyLabelChanges(node.labels ?? {}, req.add, req.rm),
      engineLabels: node.engineLabels ?? {},
      ...(req.availability !== undefined && { availability: req.availability }),
      updatedAt: new Date().toISOString(),
    };
    try {
      await deps.kv.update(id, encodeAs(W.NodeRecord, next), entry.revision);
      return next;
    } catch {
      // changed meanwhile (heartbeat status, re-registration): read again
    }
  }
  throw new CasConflictError(`node ${req.node} kept changing; try again`);
}
