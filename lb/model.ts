/**
 * Desired state of ONE load-balancer namespace (an `lb_<net>` namespace or the ingress sandbox).
 *
 * The mark stage is shared by every backend: traffic matching a service gets the service's
 * `fwmark`; the backend (IPVS fwmark service or nftables numgen map) picks a replica by mark;
 * load-balanced traffic is SNATed to `snatAddr` so replies come back through this namespace.
 */
import { MeshError } from '../core/errors.js';

export interface LbBackend {
  /** IPv4 address, no prefix. */
  addr: string;
  /** 1 = active; 0 = draining: no new connections, established ones continue. */
  weight: 0 | 1;
}

export type LbMatch =
  /** All traffic to the VIP (tcp and udp; other protocols too, as in Swarm's `-d VIP -j MARK`). */
  | { type: 'vip'; vip: string }
  /** Ingress: a published port and protocol, to any local address of the namespace. */
  | { type: 'port'; protocol: 'tcp' | 'udp'; port: number };

/**
 * One match -> one mark. Several entries may share a fwmark (a service publishing several ports,
 * or Swarm's ingress VIP beside the published port): they are then one load-balanced service
 * and must list identical backends. See `groupByMark`.
 */
export interface LbService {
  name: string;
  fwmark: number;
  match: LbMatch;
  /** Rendered in the given order: the caller sorts them (desired.ts sorts by address). */
  backends: LbBackend[];
}

export interface LbDesired {
  /** The namespace's own address on the overlay. */
  snatAddr: string;
  services: LbService[];
}

/** A desired LB state that cannot be rendered (a bug upstream: the allocator or desired.ts). */
export class LbModelError extends MeshError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid load-balancer state: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function isIpv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => OCTET.test(p));
}

/** Dotted-quad as an unsigned integer (for numeric sorting). Assumes `isIpv4`. */
export function ipv4ToInt(text: string): number {
  return text.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

/** `0x100`: the one spelling of a mark used in every rendered rule and name. */
export function hexMark(mark: number): string {
  return `0x${mark.toString(16)}`;
}

/** VIP matches before port matches; VIPs numerically; ports by protocol, then number. */
function compareMatch(a: LbMatch, b: LbMatch): number {
  if (a.type === 'vip' && b.type === 'vip') return ipv4ToInt(a.vip) - ipv4ToInt(b.vip);
  if (a.type === 'port' && b.type === 'port') return a.protocol.localeCompare(b.protocol) || a.port - b.port;
  return a.type === 'vip' ? -1 : 1;
}

/** Entries sorted by fwmark, then match (every renderer and planner iterates in this order). */
export function sortedServices(d: LbDesired): LbService[] {
  return [...d.services].sort((a, b) => a.fwmark - b.fwmark || compareMatch(a.match, b.match));
}

/** One load-balanced service: every entry with this fwmark. */
export interface LbMarkGroup {
  fwmark: number;
  /** The first entry's name (in `sortedServices` order), for comments. */
  name: string;
  matches: LbMatch[];
  backends: LbBackend[];
}

/** Entries grouped by fwmark, ascending. Assumes `validateLbDesired` passed. */
export function groupByMark(d: LbDesired): LbMarkGroup[] {
  const groups = new Map<number, LbMarkGroup>();
  for (const s of sortedServices(d)) {
    const g = groups.get(s.fwmark);
    if (g) g.matches.push(s.match);
    else groups.set(s.fwmark, { fwmark: s.fwmark, name: s.name, matches: [s.match], backends: s.backends });
  }
  return [...groups.values()];
}

/** The backends that may take new connections. */
export function activeBackends(s: { backends: readonly LbBackend[] }): LbBackend[] {
  return s.backends.filter((b) => b.weight === 1);
}

function backendsKey(bs: readonly LbBackend[]): string {
  return bs.map((b) => `${b.addr}/${b.weight}`).join(',');
}

function matchKey(m: LbMatch): string {
  return m.type === 'vip' ? `vip ${m.vip}` : `${m.protocol} port ${m.port}`;
}

function serviceProblems(s: LbService): string[] {
  const p: string[] = [];
  const at = `service ${JSON.stringify(s.name)}`;
  if (!Number.isInteger(s.fwmark) || s.fwmark < 1 || s.fwmark > 0xffffffff) p.push(`${at}: fwmark ${s.fwmark} is not in 1..0xffffffff`);
  if (s.match.type === 'vip' && !isIpv4(s.match.vip)) p.push(`${at}: vip ${JSON.stringify(s.match.vip)} is not an IPv4 address`);
  if (s.match.type === 'port') {
    if (s.match.protocol !== 'tcp' && s.match.protocol !== 'udp') p.push(`${at}: protocol ${JSON.stringify(s.match.protocol)} is not tcp or udp`);
    if (!Number.isInteger(s.match.port) || s.match.port < 1 || s.match.port > 65535) p.push(`${at}: port ${s.match.port} is not in 1..65535`);
  }
  const seen = new Set<string>();
  for (const b of s.backends) {
    if (!isIpv4(b.addr)) p.push(`${at}: backend ${JSON.stringify(b.addr)} is not an IPv4 address`);
    if (b.weight !== 0 && b.weight !== 1) p.push(`${at}: backend ${b.addr} weight ${String(b.weight)} is not 0 or 1`);
    if (seen.has(b.addr)) p.push(`${at}: backend ${b.addr} listed twice`);
    seen.add(b.addr);
  }
  return p;
}

/**
 * Throws LbModelError unless `d` renders to valid rules: IPv4 addresses, marks in range, entries
 * sharing a mark with identical backends, no two entries on the same VIP or protocol/port, no
 * backend listed twice.
 * Every renderer calls it, so nothing malformed ever reaches `nft -f` or `ipvsadm -R`.
 */
export function validateLbDesired(d: LbDesired): void {
  const problems: string[] = [];
  if (!isIpv4(d.snatAddr)) problems.push(`snatAddr ${JSON.stringify(d.snatAddr)} is not an IPv4 address`);
  const marks = new Map<number, LbService>();
  const matches = new Map<string, string>();
  for (const s of d.services) {
    problems.push(...serviceProblems(s));
    const byMark = marks.get(s.fwmark);
    if (byMark && backendsKey(byMark.backends) !== backendsKey(s.backends)) {
      problems.push(`services ${JSON.stringify(byMark.name)} and ${JSON.stringify(s.name)} share fwmark ${hexMark(s.fwmark)} with different backends`);
    }
    marks.set(s.fwmark, s);
    const key = matchKey(s.match);
    const byMatch = matches.get(key);
    if (byMatch !== undefined) problems.push(`services ${JSON.stringify(byMatch)} and ${JSON.stringify(s.name)} share ${key}`);
    matches.set(key, s.name);
  }
  if (problems.length > 0) throw new LbModelError(problems);
}
