import type { KV } from 'nats';
import type { LbAddress, NetworkRecord } from '../core/model.js';
import { encode } from '../core/state/codec.js';
import { parseCidr } from '../core/ipnet.js';
import { isCasFailure, type Allocator } from './allocator.js';

/** Each node's load-balancer address on a network: key `<networkId>.<nodeId>`, owner `lb.<nodeId>`. */
export function lbAddressKey(networkId: string, nodeId: string): string {
  return `${networkId}.${nodeId}`;
}

function ownerOf(nodeId: string): string {
  return `lb.${nodeId}`;
}

/** Allocates the address once (the first manager to create the key wins; a loser gives its IP back). */
export async function ensureLbAddress(kv: KV, allocator: Allocator, net: NetworkRecord, nodeId: string): Promise<void> {
  const key = lbAddressKey(net.id, nodeId);
  if (await kv.get(key).then((e) => e?.operation === 'PUT')) return;
  const ip = await allocator.ip(net.id, net.subnet, ownerOf(nodeId));
  const record: LbAddress = { networkId: net.id, nodeId, addr: `${ip}/${parseCidr(net.subnet).prefix}` };
  try {
    await kv.create(key, encode(record));
  } catch (err) {
    await allocator.releaseIp(net.id, ip, ownerOf(nodeId));
    if (!isCasFailure(err)) throw err;
  }
}

export async function releaseLbAddress(kv: KV, allocator: Allocator, l: LbAddress): Promise<void> {
  await kv.delete(lbAddressKey(l.networkId, l.nodeId));
  await allocator.releaseIp(l.networkId, l.addr, ownerOf(l.nodeId));
}
