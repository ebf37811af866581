/**
 * nftables backend: the desired LB state of one namespace rendered as ONE `nft -f` script, either
 *
 *   full    `add table` + `delete table`, then the whole table declared: `nft -f` replaces our
 *           table (and nothing else) in a single transaction, with no moment without rules; or
 *   update  the difference from the table we last wrote (`NftTable`, kept by the applier):
 *           element deletes, chains flushed/deleted/added, element adds, also one transaction.
 *           Replacing a table of 10,000 services costs the kernel ~30 s; adding one service to
 *           it this way costs milliseconds. kube-proxy's nftables mode does the same.
 *
 * Established flows keep their NAT binding in conntrack whichever way a chain changes, which is
 * also how a backend drains here: weight 0 = left out of the numgen map, so it gets no new
 * connections while its established ones carry on.
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
import { activeBackends, groupByMark, hexMark, sortedServices, validateLbDesired, type LbDesired, type LbMarkGroup } from './model.js';
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

/** The four named maps/sets of the table, by their name: element key -> element as written. */
type NftElements = Record<string, Map<string, string>>;

/** One service chain: its comment (only written when the chain is created) and its rules. */
interface NftChain {
  comment: string;
  rules: string[];
}

/**
 * Everything variable in our table, as written: the input of the next `renderNftablesUpdate`.
 * The rest (base chains, map types) is constant.
 */
export interface NftTable {
  snatAddr: string;
  elements: NftElements;
  /** Service chain name -> chain, in fwmark order. */
  chains: Map<string, NftChain>;
}

/** The desired state as the table it renders to. Throws LbModelError on invalid input. */
export function nftTable(d: LbDesired): NftTable {
  validateLbDesired(d);
  const elements: NftElements = {
    [NFT_MAPS.vipMarks]: new Map(),
    [NFT_MAPS.portMarks]: new Map(),
    [NFT_MAPS.svcChains]: new Map(),
    [NFT_SETS.svcMarks]: new Map(),
  };
  const put = (name: string, key: string, element: string) => elements[name]!.set(key, element);
  for (const s of sortedServices(d)) {
    if (s.match.type === 'vip') put(NFT_MAPS.vipMarks, s.match.vip, `${s.match.vip} : ${hexMark(s.fwmark)}`);
    else put(NFT_MAPS.portMarks, `${s.match.protocol} . ${s.match.port}`, `${s.match.protocol} . ${s.match.port} : ${hexMark(s.fwmark)}`);
  }
  const chains = new Map<string, NftChain>();
  for (const g of groupByMark(d)) {
    const mark = hexMark(g.fwmark);
    put(NFT_MAPS.svcChains, mark, `${mark} : jump ${nftServiceChain(g.fwmark)}`);
    put(NFT_SETS.svcMarks, mark, mark);
    chains.set(nftServiceChain(g.fwmark), { comment: safeComment(g.name), rules: serviceChainRules(g) });
  }
  return { snatAddr: d.snatAddr, elements, chains };
}

/** Map and set declarations (constant types) in the order they are rendered. */
const NFT_ELEMENT_TYPES: readonly [kind: 'map' | 'set', name: string, type: string][] = [
  ['map', NFT_MAPS.vipMarks, 'type ipv4_addr : mark'],
  ['map', NFT_MAPS.portMarks, 'type inet_proto . inet_service : mark'],
  ['map', NFT_MAPS.svcChains, 'type mark : verdict'],
  ['set', NFT_SETS.svcMarks, 'type mark'],
];

/** The maps of the mark stage and the verdict map / mark set of the nat stage. */
function renderMaps(t: NftTable): string[] {
  return NFT_ELEMENT_TYPES.flatMap(([kind, name, type]) => block(kind, name, [`${T2}${type}`, ...elements([...t.elements[name]!.values()])]));
}

/** A comment is for humans only; keep it to characters that cannot break the script. */
function safeComment(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
}

/**
 * One service's rules (all entries sharing the fwmark). The destination port is left unchanged
 * (`dnat to ADDR`), which serves both VIP services (any port) and published ports (the replica's
 * sandbox redirects P -> T). With no active backend the first packet is rejected (TCP reset, else
 * ICMP port unreachable) so clients fail fast instead of timing out; reject at prerouting needs
 * Linux >= 5.9.
 */
function serviceChainRules(s: LbMarkGroup): string[] {
  const active = activeBackends(s);
  if (active.length === 0) return ['meta l4proto tcp reject with tcp reset', 'reject'];
  if (active.length === 1) return [`dnat to ${active[0]?.addr}`];
  return [`dnat to numgen random mod ${active.length} map { ${active.map((b, i) => `${i} : ${b.addr}`).join(', ')} }`];
}

function renderServiceChain(name: string, c: NftChain): string[] {
  return block('chain', name, [`${T2}comment "${c.comment}"`, ...c.rules.map((r) => `${T2}${r}`)]);
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
 * The complete `nft -f` script for one namespace (replaces the table). Deterministic: services
 * sorted by fwmark (then match), one chain per fwmark, backends in the order given (the caller
 * sorts them). Throws LbModelError on invalid input.
 */
export function renderNftables(d: LbDesired): string {
  return renderNftablesTable(nftTable(d));
}

export function renderNftablesTable(t: NftTable): string {
  const table = `${NFT_FAMILY} ${NFT_TABLE}`;
  const lines = [
    `add table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    ...renderMaps(t),
    ...renderPreroutingChains(),
    ...[...t.chains].flatMap(([name, c]) => renderServiceChain(name, c)),
    ...renderSnatChain(t.snatAddr),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The `nft -f` script that turns table `from` (as we last wrote it) into `to`, in one
 * transaction: '' when they are equal; `undefined` when only a full replace can do it (the SNAT
 * address changed, or a chain's comment did: nft cannot change a chain's comment in place).
 *
 * Order inside the batch: elements removed or changed are deleted (so no map points at a chain
 * about to go), removed chains flushed and deleted, new chains added with their rules, changed
 * chains flushed and refilled, then new and changed elements added (their chains exist by then).
 */
export function renderNftablesUpdate(from: NftTable, to: NftTable): string | undefined {
  if (from.snatAddr !== to.snatAddr) return undefined;
  for (const [name, c] of to.chains) {
    const old = from.chains.get(name);
    if (old && old.comment !== c.comment) return undefined;
  }
  const table = `${NFT_FAMILY} ${NFT_TABLE}`;
  const lines: string[] = [];
  const adds: string[] = [];
  for (const [, name] of NFT_ELEMENT_TYPES) {
    const was = from.elements[name]!;
    const now = to.elements[name]!;
    const gone = [...was.keys()].filter((k) => now.get(k) !== was.get(k));
    const added = [...now].filter(([k, e]) => was.get(k) !== e).map(([, e]) => e);
    if (gone.length) lines.push(`delete element ${table} ${name} { ${gone.join(', ')} }`);
    if (added.length) adds.push(`add element ${table} ${name} { ${added.join(', ')} }`);
  }
  for (const name of from.chains.keys()) {
    if (!to.chains.has(name)) lines.push(`flush chain ${table} ${name}`, `delete chain ${table} ${name}`);
  }
  for (const [name, c] of to.chains) {
    const old = from.chains.get(name);
    if (!old) lines.push(`add chain ${table} ${name} { comment "${c.comment}"; }`);
    else if (old.rules.join('\n') === c.rules.join('\n')) continue;
    else lines.push(`flush chain ${table} ${name}`);
    lines.push(...c.rules.map((r) => `add rule ${table} ${name} ${r}`));
  }
  lines.push(...adds);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Removes our table (switching to the IPVS backend, or the namespace's LB going away). */
export function renderNftablesTeardown(): string {
  const table = `${NFT_FAMILY} ${NFT_TABLE}`;
  return `add table ${table}\ndelete table ${table}\n`;
}
