/**
 * Networks of their own, outside any stack (`meshctl network create|rm`, Docker's verbs): what
 * containers of other runtimes join through the CNI plugin when no stack declares one. They are
 * overlays like a stack's (subnet and VNI from the allocator); `stack rm` never touches them.
 */
import type * as z from 'zod';
import type { NetworkRecord } from '../core/model.js';
import { ConflictError, NotFoundError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { encode } from '../core/state/codec.js';
import type { Buckets } from '../core/state/buckets.js';
import { readValues } from '../core/state/read.js';
import { RECORDS } from '../core/wire/records.js';
import type * as W from '../core/wire/schemas.js';
import type { Allocator } from './allocator.js';
import type { ClusterConfig } from './cluster-config.js';
import { removeNetworkRecord } from './deploy/commit.js';
import { allocateNetwork } from './deploy/resources.js';
import { UndoLog } from './deploy/txn.js';
import { findNetwork } from './endpoints.js';

export interface NetworkCommandDeps {
  buckets: Buckets;
  allocator: Allocator;
  config: ClusterConfig;
  log: Logger;
}

export async function createNetwork(deps: NetworkCommandDeps, req: z.output<typeof W.NetworkCreateRequest>): Promise<{ id: string; name: string }> {
  const existing = findNetwork(await readValues(deps.buckets.networks, RECORDS.networks), req.name);
  if (existing) throw new ConflictError(`network with name ${req.name} already exists`);
  const undo = new UndoLog();
  try {
    const net = await allocateNetwork({ allocator: deps.allocator, config: deps.config, undo, fullName: req.name, spec: { subnet: req.subnet, internal: req.internal, attachable: req.attachable } });
    await deps.buckets.networks.create(net.id, encode(net));
    deps.log.info('network created', { network: net.name, subnet: net.subnet, vni: net.vni, attachable: net.attachable });
    return { id: net.id, name: net.name };
  } catch (err) {
    await undo.rollback();
    throw err;
  }
}

/** Docker's rule: a network in use (a service's, or a container's) is not removed. */
export async function removeNetwork(deps: NetworkCommandDeps, req: z.output<typeof W.NetworkRmRequest>): Promise<string> {
  const net = findNetwork(await readValues(deps.buckets.networks, RECORDS.networks), req.network);
  if (!net) throw new NotFoundError(`network ${req.network} not found`);
  refuseRemoval(net);
  const users = (await readValues(deps.buckets.services, RECORDS.services)).filter((s) => s.networks.some((a) => a.networkId === net.id));
  if (users.length > 0) throw new ConflictError(`network ${net.name} is in use by service ${users.map((s) => s.name).join(', ')}`);
  const attached = (await readValues(deps.buckets.endpoints, RECORDS.endpoints)).filter((e) => e.networkId === net.id);
  if (attached.length > 0) throw new ConflictError(`network ${net.name} has active endpoints (${attached.map((e) => e.name).join(', ')}): remove those containers first`);
  await removeNetworkRecord(deps, net);
  deps.log.info('network removed', { network: net.name });
  return net.name;
}

function refuseRemoval(net: NetworkRecord): void {
  if (net.ingress) throw new ConflictError(`network ${net.name} is the routing mesh's; it cannot be removed`);
  if (net.stack !== undefined) throw new ConflictError(`network ${net.name} belongs to stack ${net.stack}: it goes with \`meshctl stack rm ${net.stack}\``);
}
