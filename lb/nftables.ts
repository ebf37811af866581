/**
 * nftables backend: the desired LB state of one namespace rendered as ONE `nft -f` script.
 *
 * The script starts with `add table` + `delete table` and then declares the whole table, so
 * `nft -f` replaces our table (and nothing else) in a single transaction: there is no moment
 * without rules. Established flows keep their NAT binding in conntrack when the table is
 * replaced, which is also how a backend drains here: weight 0 = left out of the numgen map, so
 * it gets no new connections while its established ones carry on.
 *
 * Packet path (same marks and VIPs as the IPVS backend):
 *   prerouting/mangle  mark_prerouting   meta mark set <daddr | l4proto.dport> map   (mark stage)
 *   prerouting/dstnat  dnat_prerouting   meta mark vmap @svc_chains -> svc_0x<mark>
 *                      svc_0x<mark>      dnat to numgen random mod N map { i : replica }
 *                                        or, with no active replica, reject (fail fast)
 *   postrouting/srcnat snat_postrouting  ct status dnat + our mark -> snat to snatAddr
 *
 * The chain skeleton is constant (named maps and sets; only their elements vary), so an empty
 * desired state renders the same chains with empty maps.
 */
import { activeBackends, groupByMark, hexMark, sortedServices, validateLbDesired, type LbDesired, type LbMarkGroup, type LbService } from './model.js';
import { NFT_CHAINS, NFT_FAMILY, NFT_MAPS, NFT_SETS, NFT_TABLE, nftServiceChain } from './names.js';

const T1 = '\t';
const T2 = '\t\t';
const T3 = '\t\t\t';

/** `elements = { ... }`, one element per line; nothing for an empty map (nft rejects `{ }`). */
function elements(items: readonly string[]): string[] {
  if (items.length === 0) return [];
  return [`${T2}elements = {`, ...items.map((e, i) => `${T3}${e}${i < items.length - 1 ? ',' : ''}`), `${T2}}`];
}

function block(kind: 'map' | 'set' | 'chain', name: string, body: readonly string[]): string[] {
  return [`${T1}${kind} ${name} {`, ...body, `${T1}}`];
}

/** The maps of the mark stage and the verdict map / mark set of the nat stage. */
function renderMaps(services: readonly LbService[], groups: readonly LbMarkGroup[]): string[] {
  const vip: string[] = [];
  const port: string[] = [];
  for (const s of services) {
    if (s.match.type === 'vip') vip.push(`${s.match.vip} : ${hexMark(s.fwmark)}`);
    else port.push(`${s.match.protocol} . ${s.match.port} : ${hexMark(s.fwmark)}`);
  }
  const jumps = groups.map((g) => `${hexMark(g.fwmark)} : jump ${nftServiceChain(g.fwmark)}`);
  const marks = groups.map((g) => hexMark(g.fwmark));
  return [
    ...block('map', NFT_MAPS.vipMarks, [`${T2}type ipv4_addr : mark`, ...elements(vip)]),
    ...block('map', NFT_MAPS.portMarks, [`${T2}type inet_proto . inet_service : mark`, ...elements(port)]),
    ...block('map', NFT_MAPS.svcChains, [`${T2}type mark : verdict`, ...elements(jumps)]),
    ...block('set', NFT_SETS.svcMarks, [`${T2}type mark`, ...elements(marks)]),
  ];
}

/** A comment is for humans only; keep it to characters that cannot break the script. */
function safeComment(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
}

/**
 * One service's chain (all entries sharing the fwmark). The destination port is left unchanged (`dnat to ADDR`), which serves
 * both VIP services (any port) and published ports (the replica's sandbox redirects P -> T).
 * With no active backend the first packet is rejected (TCP reset, else ICMP port unreachable)
 * so clients fail fast instead of timing out; reject at prerouting needs Linux >= 5.9.
 */
export function renderServiceChain(s: LbMarkGroup): string[] {
  const active = activeBackends(s);
  const body = [`${T2}comment "${safeComment(s.name)}"`];
  if (active.length === 0) {
    body.push(`${T2}meta l4proto tcp reject with tcp reset`, `${T2}reject`);
  } else if (active.length === 1) {
    body.push(`${T2}dnat to ${active[0]?.addr}`);
  } else {
    const map = active.map((b, i) => `${i} : ${b.addr}`).join(', ');
    body.push(`${T2}dnat to numgen random mod ${active.length} map { ${map} }`);
  }
  return block('chain', nftServiceChain(s.fwmark), body);
}

/** The mark stage, then the DNAT dispatch by mark (packet order). */
function renderPreroutingChains(): string[] {
  return [
    ...block('chain', NFT_CHAINS.mark, [
      `${T2}type filter hook prerouting priority mangle; policy accept;`,
      `${T2}meta mark set ip daddr map @${NFT_MAPS.vipMarks}`,
      `${T2}meta mark set meta l4proto . th dport map @${NFT_MAPS.portMarks}`,
    ]),
    ...block('chain', NFT_CHAINS.dnat, [
      `${T2}type nat hook prerouting priority dstnat; policy accept;`,
      `${T2}meta mark vmap @${NFT_MAPS.svcChains}`,
    ]),
  ];
}

/**
 * SNAT guard: `ct status dnat` AND `meta mark @svc_marks`. A nat chain sees only a connection's
 * first packet, and a marked first packet is always DNATed or rejected, so the mark alone would
 * do; `ct status dnat` also proves that the packet was actually translated (a mark is just an
 * integer another tool in the namespace could reuse), and the mark set keeps any other DNAT in
 * the namespace (e.g. an embedded-DNS redirect) from being SNATed. A set of exact marks rather
 * than a range, because fwmarks are allocated from 0x100 without an upper bound.
 */
function renderSnatChain(snatAddr: string): string[] {
  return block('chain', NFT_CHAINS.snat, [
    `${T2}type nat hook postrouting priority srcnat; policy accept;`,
    `${T2}ct status dnat meta mark @${NFT_SETS.svcMarks} snat to ${snatAddr}`,
  ]);
}

/**
 * The complete `nft -f` script for one namespace. Deterministic: services sorted by fwmark (then
 * match), one chain per fwmark, backends in the order given (the caller sorts them). Throws LbModelError on invalid input.
 */
export function renderNftables(d: LbDesired): string {
  validateLbDesired(d);
  const services = sortedServices(d);
  const groups = groupByMark(d);
  const table = `${NFT_FAMILY} ${NFT_TABLE}`;
  const lines = [
    `add table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    ...renderMaps(services, groups),
    ...renderPreroutingChains(),
    ...groups.flatMap(renderServiceChain),
    ...renderSnatChain(d.snatAddr),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/** Removes our table (switching to the IPVS backend, or the namespace's LB going away). */
export function renderNftablesTeardown(): string {
  const table = `${NFT_FAMILY} ${NFT_TABLE}`;
  return `add table ${table}\ndelete table ${table}\n`;
}
