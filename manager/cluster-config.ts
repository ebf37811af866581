import { createHash } from 'node:crypto';
import type { Buckets } from '../core/state/buckets.js';
import type { NetworkRecord } from '../core/model.js';
import { ALLOC_KEYS, CONTROL_KEYS, INGRESS_VNI } from '../core/names.js';
import { encodeAs } from '../core/wire/decode.js';
import * as W from '../core/wire/schemas.js';
import { RECORDS } from '../core/wire/records.js';
import { readOne } from '../core/state/read.js';
import { newId } from '../core/ids.js';
import { formatCidr, gatewayOf, parseCidr } from '../core/ipnet.js';
import type { Allocator } from './allocator.js';
import { isCasFailure } from './allocator.js';

/** Settings fixed when the cluster is created (the first manager's flags win). */
export interface ClusterConfig {
  id: string;
  createdAt: string;
  subnetPool: string;
  subnetPrefix: number;
  ingressSubnet: string;
  vxlanPort: number;
}

export type ClusterConfigInput = Pick<ClusterConfig, 'subnetPool' | 'subnetPrefix' | 'ingressSubnet' | 'vxlanPort'>;

/** Creates the cluster record and the ingress network once; every manager calls it at start. */
export async function ensureCluster(buckets: Buckets, allocator: Allocator, input: ClusterConfigInput): Promise<ClusterConfig> {
  const proposed: ClusterConfig = {
    id: newId(),
    createdAt: new Date().toISOString(),
    ...input,
    subnetPool: formatCidr(parseCidr(input.subnetPool)),
    ingressSubnet: formatCidr(parseCidr(input.ingressSubnet)),
  };
  try {
    await buckets.control.create(CONTROL_KEYS.cluster, encodeAs(W.ClusterConfig, proposed));
  } catch (err) {
    if (!isCasFailure(err)) throw err;
  }
  const config = await readOne(buckets.control, RECORDS.cluster, CONTROL_KEYS.cluster);
  if (!config) throw new Error('cluster record vanished after creation');
  await ensureIngressNetwork(buckets, allocator, config);
  return config;
}

/** The ingress network's id is derived from the cluster id, so racing managers write the same record. */
export function ingressNetworkId(clusterId: string): string {
  return createHash('sha256').update(`${clusterId}/ingress`).digest('hex').slice(0, 25);
}

async function ensureIngressNetwork(buckets: Buckets, allocator: Allocator, config: ClusterConfig): Promise<void> {
  const id = ingressNetworkId(config.id);
  const subnet = await allocator.subnet({ owner: id, requested: config.ingressSubnet, pool: config.subnetPool, prefix: config.subnetPrefix });
  if (!(await allocator.claim(ALLOC_KEYS.vni(INGRESS_VNI), id)) && (await allocator.ownerOf(ALLOC_KEYS.vni(INGRESS_VNI))) !== id) {
    throw new Error(`VNI ${INGRESS_VNI} is held by something other than the ingress network`);
  }
  const record: NetworkRecord = {
    id,
    name: 'ingress',
    driver: 'overlay',
    subnet,
    gateway: gatewayOf(parseCidr(subnet)),
    vni: INGRESS_VNI,
    internal: false,
    attachable: false,
    ingress: true,
    createdAt: config.createdAt,
  };
  try {
    await buckets.networks.create(id, encodeAs(W.NetworkRecord, record));
  } catch (err) {
    if (!isCasFailure(err)) throw err;
  }
}
