/**
 * Node identity at admission: which node id a join may claim.
 *
 *   a new id                      -> the worker's auth record is created (kv.create: two joins
 *                                    racing for one id cannot both win)
 *   an id with a mesh_auth record -> only with that node's current NATS password as proof
 *                                    (bcrypt-compared with the stored hash); the record is then
 *                                    replaced by compare-and-swap (new hash: a rotation, or the
 *                                    retry of a join whose reply was lost)
 *   an id in mesh_nodes only      -> refused: a manager (or a node on an external NATS) has no
 *                                    per-node credentials to prove
 * A refusal says why and never echoes the proof; nothing is written when it refuses.
 */
import type { KV, KvEntry } from 'nats';
import bcrypt from 'bcryptjs';
import * as W from '../core/wire/schemas.js';
import { encodeAs, tryDecodeAs } from '../core/wire/decode.js';
import { MeshError } from '../core/errors.js';
import { nodeUser } from '../core/auth/secrets.js';
import type { JoinRequest } from '../core/auth/join-protocol.js';
import type { NodeUser } from './nats-server.js';

export interface NodeAuthRecord extends NodeUser {
  hostname: string;
  joinedAt: string;
}

/** A refusal: the join is not admitted, with the reason the joiner and the log are told. */
export class JoinRefusal extends Error {}

async function live(kv: KV, key: string): Promise<KvEntry | undefined> {
  const e = await kv.get(key);
  return e && e.operation === 'PUT' ? e : undefined;
}

function describeNode(entry: KvEntry): string {
  const v = tryDecodeAs(W.NodeHostname, entry.value);
  return v.ok ? ` (${v.value.hostname})` : '';
}

/** Refuses a manager join that names a node id the cluster already has (when its state is open). */
export async function checkManagerId(deps: { auth?: KV; nodes?: KV }, nodeId: string): Promise<void> {
  const taken = (deps.auth && (await live(deps.auth, nodeId))) ?? (deps.nodes && (await live(deps.nodes, nodeId)));
  if (taken) throw new JoinRefusal(`node id ${nodeId} is already in the cluster${describeNode(taken)}; a manager joins under a new id (a new state dir)`);
}

/**
 * Records a worker's NATS user for `req.nodeId`, or refuses. Returns the user to grant.
 * Throws JoinRefusal (final) or MeshError (the state moved meanwhile: the joiner retries).
 */
export async function admitWorker(deps: { auth: KV; nodes?: KV }, req: JoinRequest): Promise<string> {
  const { auth } = deps;
  const record: NodeAuthRecord = { nodeId: req.nodeId, user: nodeUser(req.nodeId), passwordHash: req.passwordHash!, hostname: req.hostname, joinedAt: new Date().toISOString() };
  const prior = await live(auth, req.nodeId);
  if (!prior) {
    const node = deps.nodes && (await live(deps.nodes, req.nodeId));
    if (node) throw new JoinRefusal(`node id ${req.nodeId} is already in the cluster${describeNode(node)} and has no worker credentials to prove; it cannot be taken over`);
    try {
      await auth.create(req.nodeId, encodeAs(W.NodeAuthRecord, record));
    } catch (err) {
      // Lost a race for the id (final), or the state did not answer (the joiner retries).
      if (await live(auth, req.nodeId).catch(() => undefined)) throw new JoinRefusal(`node id ${req.nodeId} was claimed by another join at the same moment`);
      throw new MeshError(`could not record node ${req.nodeId}: ${(err as Error).message}; retry`, { cause: err });
    }
    return record.user;
  }
  const decoded = tryDecodeAs(W.NodeAuthRecord.partial(), prior.value);
  const held: Partial<NodeAuthRecord> = decoded.ok ? decoded.value : {};
  if (req.currentPassword === undefined) {
    throw new JoinRefusal(`node id ${req.nodeId} is already in the cluster${describeNode(prior)}; joining under an existing id needs that node's current credentials`);
  }
  if (typeof held.passwordHash !== 'string' || !(await bcrypt.compare(req.currentPassword, held.passwordHash))) {
    throw new JoinRefusal(`wrong credentials for existing node ${req.nodeId}${describeNode(prior)}`);
  }
  try {
    await auth.update(req.nodeId, encodeAs(W.NodeAuthRecord, { ...record, joinedAt: held.joinedAt ?? record.joinedAt }), prior.revision);
  } catch (err) {
    throw new MeshError(`node ${req.nodeId}'s credentials changed meanwhile; retry`, { cause: err });
  }
  return record.user;
}
