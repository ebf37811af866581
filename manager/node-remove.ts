/**
 * `meshctl node rm [--force] NODE` (manager RPC `node.rm`): a node leaves the cluster for good.
 * Its NATS user goes first (the `mesh_auth` record: every manager's `nats-users.ts` drops it from
 * nats-server's config and reloads, which ends the node's connections and refuses new ones; and a
 * registration without that record is refused, `node-registry.ts`), then its node record (the
 * scheduler removes tasks whose node is gone and places them again; status GC then takes their
 * status keys), then its per-node load-balancer addresses.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KV } from 'nats';
import type { LbAddress, NodeRecord } from '../core/model.js';
import type { Buckets } from '../core/state/buckets.js';
import type { Logger } from '../core/log.js';
import * as W from '../core/wire/schemas.js';
import { tryDecodeAs } from '../core/wire/decode.js';
import { RECORDS } from '../core/wire/records.js';
import { readValues } from '../core/state/read.js';
import { ConflictError, NotFoundError } from '../core/errors.js';
import type { Allocator } from './allocator.js';
import { releaseLbAddress } from './lb-addresses.js';
import { releaseEndpoints } from './endpoints.js';
import { resolveNode } from './node-update.js';

export interface NodeRmRequest {
  /** Node id, unique id prefix, or hostname. */
  node: string;
  /** Remove it even though it is up (its connection ends). */
  force: boolean;
}

export interface NodeRmReply {
  id: string;
  hostname: string;
}

/** Pure: why this node may not be removed by this request, or undefined when it may. */
export function removalRefusal(node: NodeRecord, opts: { force: boolean; servedBy: string }): string | undefined {
  const name = node.hostname;
  if (node.role === 'manager') {
    return `node ${name} is a manager and can't be removed: it holds the cluster state (a NATS server with a replica of every bucket); Docker requires demoting a manager first, and meshd has no demotion`;
  }
  // Only managers serve requests, so this is the manager refusal's backstop (a record whose role is stale).
  if (node.id === opts.servedBy) return `node ${name} is serving this request and cannot remove itself`;
  if (node.status !== 'down' && !opts.force) return `node ${name} is not down and can't be removed; use --force to remove it anyway (its connection ends and its tasks move)`;
  return undefined;
}

export interface NodeRemoveDeps {
  buckets: Pick<Buckets, 'nodes' | 'auth' | 'lbaddrs' | 'endpoints'>;
  allocator: Allocator;
  /** The nodes as this manager's mirror has them (to resolve a name). */
  nodes: () => NodeRecord[];
  /** The node id of the manager serving the request. */
  servedBy: string;
  log: Logger;
}

export async function removeNode(deps: NodeRemoveDeps, req: NodeRmRequest): Promise<NodeRmReply> {
  const { id } = resolveNode(deps.nodes(), req.node);
  const kv = deps.buckets.nodes;
  // Judged on the record as it is now, and deleted only at that revision: a node that came back
  // meanwhile is judged again by the caller, not removed on a stale verdict.
  const entry = await kv.get(id);
  if (!entry || entry.operation !== 'PUT') throw new NotFoundError(`node ${req.node} not found`);
  const decoded = tryDecodeAs(W.NodeRecord, entry.value);
  if (!decoded.ok) throw new NotFoundError(`node ${req.node}: its record is unreadable (${decoded.error.reason})`);
  const node = decoded.value;
  const refusal = removalRefusal(node, { force: req.force, servedBy: deps.servedBy });
  if (refusal) throw new ConflictError(refusal);
  // Credentials first: once they are gone the node can neither connect nor register again.
  await revokeCredentials(deps.buckets.auth, id);
  try {
    await kv.delete(id, { previousSeq: entry.revision });
  } catch (err) {
    throw new ConflictError(`node ${node.hostname} changed while it was being removed (its credentials are already revoked); run node rm again`, { cause: err });
  }
  const released = await duringReload(() => releaseLbAddresses(deps, id));
  await duringReload(() => releaseEndpoints({ kv: deps.buckets.endpoints, allocator: deps.allocator }, { nodeId: id }));
  deps.log.info('node removed', { node: node.hostname, id, force: req.force, status: node.status, lbAddresses: released });
  return { id, hostname: node.hostname };
}

/**
 * The revocation makes the managers' nats-server reload its users; a JetStream request in that
 * moment was answered 503 (no responders) once in a test run (`meshctl node rm` then failed with
 * the node half removed). The idempotent release steps after it are asked again, a few times.
 */
async function duringReload<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (attempt >= 5 || !/\b503\b|no responders|timeout/i.test(err instanceof Error ? err.message : String(err))) throw err;
      await sleep(200 * attempt);
    }
  }
}

/** Deletes the node's `mesh_auth` record (absent on a cluster on an external NATS: nothing to revoke). */
async function revokeCredentials(auth: KV | undefined, id: string): Promise<void> {
  if (!auth) return;
  const e = await auth.get(id);
  if (e && e.operation === 'PUT') await auth.delete(id);
}

/** Gives back the node's load-balancer address on every network (keys `<net>.<node>`). */
async function releaseLbAddresses(deps: NodeRemoveDeps, id: string): Promise<number> {
  const addrs: LbAddress[] = await readValues(deps.buckets.lbaddrs, RECORDS.lbaddrs, { filter: `*.${id}` });
  for (const l of addrs) await releaseLbAddress(deps.buckets.lbaddrs, deps.allocator, l);
  return addrs.length;
}
