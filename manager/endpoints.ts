/**
 * Containers of other runtimes on attachable overlays (issue 15): a node's meshd asks here, on its
 * own subject (mesh.endpoint.<node>.attach|detach, which only that node may publish on), for an
 * address and a registration. Any manager answers; the address is a compare-and-swap claim like
 * a task's, so two managers cannot hand out the same one, and the record's key is derived from
 * (container, interface, network), so a repeated ADD gets the endpoint it already has.
 */
import type { KV, NatsConnection, Subscription } from 'nats';
import type * as z from 'zod';
import type { EndpointRecord, NetworkRecord, NodeRecord } from '../core/model.js';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { endpointIdOf } from '../core/ids.js';
import { parseCidr } from '../core/ipnet.js';
import type { Logger } from '../core/log.js';
import { SUBJECTS } from '../core/names.js';
import { route, serve } from '../core/rpc.js';
import { encode } from '../core/state/codec.js';
import { decodeEntry, readValues } from '../core/state/read.js';
import { SenderLimiter } from '../core/wire/limiter.js';
import { RECORDS } from '../core/wire/records.js';
import * as W from '../core/wire/schemas.js';
import { isCasFailure, type Allocator } from './allocator.js';

export const endpointKey = (e: Pick<EndpointRecord, 'nodeId' | 'id'>) => `${e.nodeId}.${e.id}`;
const ownerOf = (endpointId: string) => `endpoint.${endpointId}`;

/** A network by full name or id. */
export function findNetwork(networks: Iterable<NetworkRecord>, nameOrId: string): NetworkRecord | undefined {
  const all = [...networks];
  return all.find((n) => n.name === nameOrId) ?? all.find((n) => n.id === nameOrId);
}

/** Why a container may not join `net`, or undefined when it may. */
export function refusalOf(net: NetworkRecord): string | undefined {
  if (net.ingress) return `network ${net.name} is the routing mesh's; containers cannot join it`;
  if (!net.attachable) return `network ${net.name} is not attachable: set "attachable: true" on it in the stack file to let containers of other runtimes join`;
  return undefined;
}

export interface EndpointServerDeps {
  nc: NatsConnection;
  kv: KV;
  allocator: Allocator;
  networks: () => Iterable<NetworkRecord>;
  nodes: () => Iterable<NodeRecord>;
  log: Logger;
  queue: string;
}

/** A node's CNI traffic is bursty (20 containers at once) but bounded. */
const REQUEST_RATE = { perSecond: 50, burst: 200 } as const;

export function serveEndpoints(deps: EndpointServerDeps): Subscription {
  const prefix = 'mesh.endpoint.';
  const nodeOf = (subject: string) => subject.slice(prefix.length).split('.')[0] ?? '';
  return serve(deps.nc, {
    subject: SUBJECTS.endpointAll,
    queue: deps.queue,
    log: deps.log,
    verbOf: (s) => s.slice(prefix.length).split('.')[1] ?? '',
    senderOf: nodeOf,
    limiter: new SenderLimiter({ ...REQUEST_RATE }),
    routes: {
      attach: route(W.EndpointAttachRequest, async (req, msg) => attach(deps, nodeOf(msg.subject), req)),
      detach: route(W.EndpointDetachRequest, async ({ id }, msg) => ({ removed: await detach(deps, nodeOf(msg.subject), id) })),
    },
  });
}

/**
 * The endpoint for (container, interface, network) on `nodeId`: a new one, or the one already
 * registered (`created` false), moved to the sandbox the runtime names now (a container restarted
 * with a new namespace, its DEL lost) while keeping its address.
 */
async function attach(deps: EndpointServerDeps, nodeId: string, req: z.output<typeof W.EndpointAttachRequest>): Promise<{ endpoint: EndpointRecord; created: boolean }> {
  if (![...deps.nodes()].some((n) => n.id === nodeId)) throw new NotFoundError(`node ${nodeId} is not in the cluster`);
  const net = findNetwork(deps.networks(), req.network);
  if (!net) throw new NotFoundError(`network ${req.network} not found`);
  const refusal = refusalOf(net);
  if (refusal) throw new ConflictError(refusal);
  const id = endpointIdOf(req.containerId, req.ifname, net.id);
  const key = endpointKey({ nodeId, id });
  const heldEntry = await deps.kv.get(key);
  const held = decodeEntry(deps.kv, RECORDS.endpoints, heldEntry);
  if (held && heldEntry) {
    if (held.netns === req.netns && held.name === req.name) return { endpoint: held, created: false };
    const moved: EndpointRecord = { ...held, netns: req.netns, name: req.name };
    await deps.kv.update(key, encode(moved), heldEntry.revision);
    return { endpoint: moved, created: false };
  }
  const ip = await deps.allocator.ip(net.id, net.subnet, ownerOf(id));
  const record: EndpointRecord = {
    id,
    networkId: net.id,
    nodeId,
    containerId: req.containerId,
    ifname: req.ifname,
    name: req.name,
    netns: req.netns,
    addr: `${ip}/${parseCidr(net.subnet).prefix}`,
    createdAt: new Date().toISOString(),
  };
  try {
    await deps.kv.create(key, encode(record));
  } catch (err) {
    await deps.allocator.releaseIp(net.id, ip, ownerOf(id));
    if (!isCasFailure(err)) throw err;
    // Another manager answered the same ADD first: its record stands.
    const won = decodeEntry(deps.kv, RECORDS.endpoints, await deps.kv.get(key));
    if (won) return { endpoint: won, created: false };
    throw new ConflictError(`endpoint ${id} changed while it was being attached; try again`);
  }
  deps.log.info('container attached', { node: nodeId, network: net.name, container: req.containerId.slice(0, 12), name: req.name, addr: record.addr });
  return { endpoint: record, created: true };
}

/**
 * Endpoints whose network or node is removed (stack rm, node rm): registrations deleted and
 * addresses given back. Their node's meshd then takes the interfaces out of the containers
 * (worker/cni/attachments.ts); the runtime's own DEL later finds nothing and succeeds.
 */
export async function releaseEndpoints(deps: Pick<EndpointServerDeps, 'kv' | 'allocator'>, which: { networkId?: string; nodeId?: string }): Promise<number> {
  const all = await readValues(deps.kv, RECORDS.endpoints, { filter: which.nodeId ? `${which.nodeId}.*` : undefined });
  let released = 0;
  for (const e of all.filter((x) => which.networkId === undefined || x.networkId === which.networkId)) {
    if (await detach(deps, e.nodeId, e.id)) released++;
  }
  return released;
}

/** Removes the registration, then gives the address back. Absent is success (DEL is idempotent). */
export async function detach(deps: Pick<EndpointServerDeps, 'kv' | 'allocator'> & { log?: Logger }, nodeId: string, id: string): Promise<boolean> {
  const key = endpointKey({ nodeId, id });
  const entry = await deps.kv.get(key);
  const held = decodeEntry(deps.kv, RECORDS.endpoints, entry);
  if (!entry || entry.operation !== 'PUT') return false;
  await deps.kv.delete(key);
  if (held) {
    await deps.allocator.releaseIp(held.networkId, held.addr, ownerOf(id));
    deps.log?.info('container detached', { node: nodeId, container: held.containerId.slice(0, 12), addr: held.addr });
  }
  return true;
}
