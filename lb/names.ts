/**
 * Every name the load balancer creates in a namespace, in one place (kube-proxy's convention).
 * Nothing else in the namespace is ours: renderers touch only these.
 */
import { hexMark } from './model.js';

/** nftables backend: one table, replaced whole in one `nft -f` transaction. */
export const NFT_FAMILY = 'ip';
export const NFT_TABLE = 'meshd';

export const NFT_CHAINS = {
  /** filter, prerouting, priority mangle: sets the service mark (the shared mark stage). */
  mark: 'mark_prerouting',
  /** nat, prerouting, priority dstnat: `meta mark vmap @svc_chains`. */
  dnat: 'dnat_prerouting',
  /** nat, postrouting, priority srcnat: SNAT of load-balanced traffic to the namespace address. */
  snat: 'snat_postrouting',
} as const;

export const NFT_MAPS = {
  /** ipv4_addr : mark (vip matches). */
  vipMarks: 'vip_marks',
  /** inet_proto . inet_service : mark (port matches). */
  portMarks: 'port_marks',
  /** mark : verdict (jump to the service chain). */
  svcChains: 'svc_chains',
} as const;

export const NFT_SETS = {
  /** Every mark of our services (the SNAT rule's guard). */
  svcMarks: 'svc_marks',
} as const;

/** Per-service chain: `svc_0x100`. */
export function nftServiceChain(fwmark: number): string {
  return `svc_${hexMark(fwmark)}`;
}

/** Every chain name the rendered table holds for these marks, base chains first. */
export function nftChainsFor(fwmarks: readonly number[]): string[] {
  const services = [...fwmarks].sort((a, b) => a - b).map(nftServiceChain);
  return [NFT_CHAINS.mark, NFT_CHAINS.dnat, ...services, NFT_CHAINS.snat];
}

/** IPVS backend: our iptables chains, jumped from the built-in ones exactly once. */
export const IPT_MARK = { table: 'mangle', hook: 'PREROUTING', chain: 'MESHD-MARK' } as const;
export const IPT_SNAT = { table: 'nat', hook: 'POSTROUTING', chain: 'MESHD-SNAT' } as const;

/** The only IPVS scheduler we program (Swarm's: `FWM <mark> rr`). */
export const IPVS_SCHEDULER = 'rr';
