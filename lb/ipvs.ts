/**
 * IPVS backend: PLAN = diff between the desired state and what `ipvsadm -S -n` shows, rendered
 * as `ipvsadm -R` lines. IPVS is stateful, so a replica leaves in two steps: first weight 0 (no
 * new connections; established ones continue), then, once observed at weight 0 and still not
 * desired, deletion. Every service is a fwmark service (`-f MARK`, rr, masquerading), as Swarm's
 * `FWM <mark> rr`; real servers use port 0: with a fwmark service IPVS keeps each packet's
 * destination port, so one service carries every port of a VIP, and a published port arrives at
 * the replica unchanged (its sandbox redirects P -> T).
 *
 * The mark stage and SNAT are iptables rules: see ./iptables.ts (re-exported here).
 */
import { MeshError } from '../core/errors.js';
import { groupByMark, isIpv4, validateLbDesired, type LbBackend, type LbDesired, type LbMarkGroup } from './model.js';
import { IPVS_SCHEDULER } from './names.js';

export { renderIptablesMarks, renderIptablesTeardown, parseIptablesJumps, NO_JUMPS, type IptablesJumps } from './iptables.js';

export type IpvsForward = 'masq' | 'gate' | 'ipip';

export interface IpvsRealServer {
  addr: string;
  port: number;
  forward: IpvsForward;
  weight: number;
  /** Options we do not program (e.g. `-x 10 -y 5` thresholds), as printed; an edit clears them. */
  extra: string[];
}

export interface IpvsService {
  fwmark: number;
  scheduler: string;
  /** Options we do not program (e.g. `-p 360` persistence), as printed; an edit clears them. */
  extra: string[];
  reals: IpvsRealServer[];
}

export interface IpvsObserved {
  /** IPv4 fwmark services: all of them are ours (the namespace is dedicated to the LB). */
  services: IpvsService[];
  /** Lines of services we never touch (address-based `-t`/`-u` services, IPv6), as printed. */
  other: string[];
}

export const EMPTY_IPVS: IpvsObserved = { services: [], other: [] };

/** `ipvsadm -S -n` output we cannot read. */
export class IpvsParseError extends MeshError {
  constructor(
    readonly line: number,
    readonly text: string,
    reason: string,
  ) {
    super(`ipvsadm -S line ${line}: ${reason}: ${JSON.stringify(text)}`);
  }
}

const FORWARD_FLAG: Record<IpvsForward, string> = { masq: '-m', gate: '-g', ipip: '-i' };
const FLAG_FORWARD: Record<string, IpvsForward> = { '-m': 'masq', '-g': 'gate', '-i': 'ipip' };
/** Options we read; everything else is carried in `extra` (with its value when it takes one). */
const READ_WITH_VALUE = new Set(['-f', '-t', '-u', '--sctp-service', '-s', '-r', '-w']);
const READ_FLAGS = new Set(['-m', '-g', '-i', '-6']);
const OTHER_WITH_VALUE = new Set(['-M', '-x', '-y', '-b', '--pe', '--tun-type', '--tun-port']);

interface Parsed {
  cmd: string;
  opts: Map<string, string>;
  extra: string[];
}

function tokenize(line: string): Parsed {
  const [cmd = '', ...rest] = line.split(/\s+/);
  const opts = new Map<string, string>();
  const extra: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const t = rest[i] ?? '';
    const next = rest[i + 1];
    // `-p` (persistence) takes an optional timeout.
    const otherValue = OTHER_WITH_VALUE.has(t) || (t === '-p' && next !== undefined && /^\d+$/.test(next));
    if (READ_WITH_VALUE.has(t)) opts.set(t, next ?? '');
    else if (READ_FLAGS.has(t)) opts.set(t, '');
    else if (otherValue) extra.push(t, next ?? '');
    else extra.push(t);
    if (READ_WITH_VALUE.has(t) || otherValue) i++;
  }
  return { cmd, opts, extra };
}

function parseReal(p: Parsed, fail: (why: string) => never): IpvsRealServer {
  const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(p.opts.get('-r') ?? '');
  if (!m?.[1] || !m[2] || !isIpv4(m[1])) fail('real server is not IPv4 ADDR:PORT (run ipvsadm with -n)');
  const flag = Object.keys(FLAG_FORWARD).find((k) => p.opts.has(k));
  const weight = Number(p.opts.get('-w') ?? '1');
  if (!Number.isInteger(weight) || weight < 0) fail('bad weight');
  return { addr: m[1], port: Number(m[2]), forward: (flag && FLAG_FORWARD[flag]) || 'masq', weight, extra: p.extra };
}

/** Reads `ipvsadm -S -n` (save format: `-A -f 256 -s rr`, `-a -f 256 -r 10.0.1.13:0 -m -w 1`). */
export function parseIpvsadmSave(text: string): IpvsObserved {
  const services = new Map<number, IpvsService>();
  const other: string[] = [];
  text.split('\n').forEach((raw, idx) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fail = (why: string): never => {
      throw new IpvsParseError(idx + 1, line, why);
    };
    const p = tokenize(line);
    if (p.cmd !== '-A' && p.cmd !== '-a') fail('expected -A or -a');
    const markText = p.opts.get('-f');
    if (markText === undefined || p.opts.has('-6')) return void other.push(line);
    const fwmark = Number(markText);
    if (!Number.isInteger(fwmark) || fwmark < 1) fail('bad fwmark');
    if (p.cmd === '-A') {
      services.set(fwmark, { fwmark, scheduler: p.opts.get('-s') ?? 'wlc', extra: p.extra, reals: [] });
      return;
    }
    const svc = services.get(fwmark) ?? fail(`real server before its service -f ${fwmark}`);
    svc.reals.push(parseReal(p, fail));
  });
  return { services: [...services.values()], other };
}

/** The observed model in `ipvsadm -S -n` format (for logs and round-trip tests). */
export function formatIpvsadmSave(o: IpvsObserved): string {
  const lines: string[] = [];
  for (const s of o.services) {
    lines.push([`-A -f ${s.fwmark} -s ${s.scheduler}`, ...s.extra].join(' '));
    for (const r of s.reals) lines.push([`-a -f ${s.fwmark} -r ${r.addr}:${r.port} ${FORWARD_FLAG[r.forward]} -w ${r.weight}`, ...r.extra].join(' '));
  }
  return [...lines, ...o.other].map((l) => `${l}\n`).join('');
}

function realKey(addr: string, port: number): string {
  return `${addr}:${port}`;
}

/** The key of a real server in `IpvsDraining`: `<fwmark>/<addr>:<port>`. */
export function drainKey(fwmark: number, addr: string, port = 0): string {
  return `${fwmark}/${addr}:${port}`;
}

/** Real servers (by `drainKey`) still inside their drain period: kept at weight 0, not deleted. */
export type IpvsDraining = ReadonlySet<string>;

/** Desired backends against observed reals: add, edit, drain (weight 0), then delete. */
function planReals(fwmark: number, backends: readonly LbBackend[], reals: readonly IpvsRealServer[], draining: IpvsDraining): string[] {
  const svc = `-f ${fwmark}`;
  const observed = new Map(reals.map((r) => [realKey(r.addr, r.port), r]));
  const wanted = new Set<string>();
  const lines: string[] = [];
  for (const b of backends) {
    const key = realKey(b.addr, 0);
    wanted.add(key);
    const r = observed.get(key);
    // A draining backend that IPVS does not have has nothing to drain: it is not added.
    if (!r && b.weight > 0) lines.push(`-a ${svc} -r ${key} -m -w ${b.weight}`);
    else if (r && (r.weight !== b.weight || r.forward !== 'masq' || r.extra.length > 0)) lines.push(`-e ${svc} -r ${key} -m -w ${b.weight}`);
  }
  for (const r of reals) {
    const key = realKey(r.addr, r.port);
    if (wanted.has(key)) continue;
    if (r.weight > 0) lines.push(`-e ${svc} -r ${key} ${FORWARD_FLAG[r.forward]} -w 0`);
    else if (!draining.has(drainKey(fwmark, r.addr, r.port))) lines.push(`-d ${svc} -r ${key}`);
  }
  return lines;
}

function planService(fwmark: number, want: LbMarkGroup | undefined, have: IpvsService | undefined, draining: IpvsDraining): string[] {
  if (!want) return [`-D -f ${fwmark}`];
  const lines: string[] = [];
  if (!have) lines.push(`-A -f ${fwmark} -s ${IPVS_SCHEDULER}`);
  else if (have.scheduler !== IPVS_SCHEDULER || have.extra.length > 0) lines.push(`-E -f ${fwmark} -s ${IPVS_SCHEDULER}`);
  return [...lines, ...planReals(fwmark, want.backends, have?.reals ?? [], draining)];
}

/**
 * The `ipvsadm -R` lines that take `observed` to `desired`; empty when they already agree
 * (idempotent). Per fwmark, ascending: `-A` missing services (`-E` one with another scheduler or
 * options); `-a`/`-e` real servers to the desired weight (masquerading, port 0); a real server
 * no longer desired: `-e ... -w 0` while its weight is > 0, `-d` once observed at 0; a service
 * no longer desired: `-D`. A desired weight-0 backend stays at weight 0 until the caller drops
 * it from the desired state. An undesired real at weight 0 listed in `draining` is left as it
 * is (the caller owns the drain period and lists what is still inside it); without it, the
 * two-step removal lasts one sync. Services in `observed.other` are never touched.
 */
export function planIpvs(desired: LbDesired, observed: IpvsObserved, draining: IpvsDraining = new Set()): string[] {
  validateLbDesired(desired);
  const want = new Map(groupByMark(desired).map((g) => [g.fwmark, g]));
  const have = new Map(observed.services.map((s) => [s.fwmark, s]));
  const marks = [...new Set([...want.keys(), ...have.keys()])].sort((a, b) => a - b);
  return marks.flatMap((m) => planService(m, want.get(m), have.get(m), draining));
}

/**
 * Per-namespace sysctls for the IPVS backend, in the order to apply them. The `net.ipv4.vs.*`
 * keys exist only once ip_vs is loaded (any `ipvsadm` call loads it) and are per namespace.
 * conntrack=1: IPVS connections get conntrack entries, needed for the iptables SNAT (`-m ipvs`).
 * conn_reuse_mode=0, expire_nodest_conn=1, expire_quiescent_template=1: as Swarm sets them
 * (a removed real server's connections expire at once instead of black-holing).
 */
export function ipvsSysctls(): Record<string, string> {
  return {
    'net.ipv4.ip_forward': '1',
    'net.ipv4.vs.conntrack': '1',
    'net.ipv4.vs.conn_reuse_mode': '0',
    'net.ipv4.vs.expire_nodest_conn': '1',
    'net.ipv4.vs.expire_quiescent_template': '1',
  };
}
