/**
 * A load balancer may select a remote replica only once this node's overlay knows the way to it
 * (its FDB and neighbour entries, written by the full sync's `syncPeers`). The LB fast lane runs
 * ahead of the full sync: without this, a new remote replica took connections whose SYNs went
 * nowhere until the peers were synced (connect timeouts during every rolling update).
 */
import type { LbDesired } from '../../lb/model.js';
import type { Peer } from './desired.js';

/** How a synced peer is remembered: its address at its node (an address moves with its task). */
export function peerKey(p: Peer): string {
  return `${p.ip}@${p.vtep}`;
}

/** The addresses among `wanted` peers that the overlay has not been given yet. */
export function unsyncedPeers(wanted: readonly Peer[], synced: ReadonlySet<string> | undefined): Set<string> {
  return new Set(wanted.filter((p) => !synced?.has(peerKey(p))).map((p) => p.ip));
}

/** The LB without backends at `unreachable` addresses (pure). */
export function withoutBackends(lb: LbDesired, unreachable: ReadonlySet<string>): LbDesired {
  if (unreachable.size === 0) return lb;
  return { ...lb, services: lb.services.map((s) => ({ ...s, backends: s.backends.filter((b) => !unreachable.has(b.addr)) })) };
}
