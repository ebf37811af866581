import { run } from '../../core/exec.js';
import { FORWARD_TABLE } from './names.js';
export { FORWARD_TABLE } from './names.js';

/**
 * Forwarding stays ours. Wherever meshd turns `ip_forward` on (the node's namespace for the
 * gateway bridge and published ports; `lb_<net>` and `ingress_sbox` for the load balancers), a
 * forward chain with policy drop lets through only meshd's own paths, so running meshd does not
 * make a node an open router (Docker: FORWARD policy DROP, DOCKER-INGRESS / DOCKER-ISOLATION).
 * nftables runs every base chain on a hook and a drop in any of them is final, so this chain
 * holds whatever other tables accept. Namespaces that never forward (`t_`, `ov_`) get
 * `ip_forward=0` when they are created (core/netns.ts): a new namespace copies the initial
 * namespace's value, which meshd itself sets to 1 on a real node.
 *
 * The policy is data (`ForwardPolicy`), rendered whole by a pure function; golden tests compare
 * the text.
 */

export type ForwardRule =
  /** Bridge to bridge (task to task through the gateway bridge: around overlay isolation). */
  | { type: 'drop-bridged'; bridge: string }
  /** Tasks only on internal networks: nothing from them leaves the node. */
  | { type: 'drop-from'; iif: string; saddrs: readonly string[] }
  /** Replies and ICMP errors of connections a rule below let through. */
  | { type: 'established' }
  /** Connections our own DNAT rewrote (published ports; a VIP to a replica), optionally only out of `oif`. */
  | { type: 'dnat'; oif?: string }
  /** New connections from tasks on the gateway bridge, out of the node. */
  | { type: 'from'; iif: string };

export interface ForwardPolicy {
  /** `drop` where meshd owns forwarding; `accept` where it was on before meshd (not ours to close). */
  policy: 'drop' | 'accept';
  rules: ForwardRule[];
}


/**
 * The node's namespace (in the gateway table): tasks out through the bridge, published ports
 * in through our DNAT, replies; everything else dropped when meshd turned forwarding on.
 */
export function nodeForwardPolicy(opts: { bridge: string; isolated: readonly string[]; ownsForwarding: boolean }): ForwardPolicy {
  const rules: ForwardRule[] = [{ type: 'drop-bridged', bridge: opts.bridge }];
  if (opts.isolated.length) rules.push({ type: 'drop-from', iif: opts.bridge, saddrs: [...opts.isolated].sort() });
  rules.push({ type: 'established' }, { type: 'dnat', oif: opts.bridge }, { type: 'from', iif: opts.bridge });
  return { policy: opts.ownsForwarding ? 'drop' : 'accept', rules };
}

/** `lb_<net>` and `ingress_sbox`: namespaces of our own whose only forwarding is our DNAT. */
export function loadBalancerForwardPolicy(): ForwardPolicy {
  return { policy: 'drop', rules: [{ type: 'established' }, { type: 'dnat' }] };
}

function renderRule(r: ForwardRule): string {
  switch (r.type) {
    case 'drop-bridged':
      return `iifname "${r.bridge}" oifname "${r.bridge}" drop`;
    case 'drop-from':
      return `iifname "${r.iif}" ip saddr { ${r.saddrs.join(', ')} } drop`;
    case 'established':
      return 'ct state established,related accept';
    case 'dnat':
      return `${r.oif ? `oifname "${r.oif}" ` : ''}ct status dnat accept`;
    case 'from':
      return `iifname "${r.iif}" accept`;
  }
}

/**
 * The `forward` base chain's lines (tab-indented for a table body). Under policy drop the last
 * rule is an explicit counted drop: `nft list chain` shows how much was refused.
 */
export function renderForwardChain(p: ForwardPolicy): string[] {
  const rules = p.rules.map(renderRule);
  if (p.policy === 'drop') rules.push('counter drop');
  return ['\tchain forward {', `\t\ttype filter hook forward priority filter; policy ${p.policy};`, ...rules.map((r) => `\t\t${r}`), '\t}'];
}

/** A whole-table replace of `meshd_fwd` holding only the forward chain. */
export function renderForwardTable(p: ForwardPolicy): string {
  return [`add table ip ${FORWARD_TABLE}`, `delete table ip ${FORWARD_TABLE}`, `table ip ${FORWARD_TABLE} {`, ...renderForwardChain(p), '}', ''].join('\n');
}

/** Applies the load balancers' forward policy in `netns` (one `nft -f` transaction). */
export async function applyLoadBalancerForwardPolicy(netns: string): Promise<void> {
  await run(['nft', '-f', '-'], { netns, input: renderForwardTable(loadBalancerForwardPolicy()) });
}
