/**
 * What a load-balancer namespace (`lb_<net>` or `ingress_sbox`) really holds, read from the
 * kernel: for nftables our `ip meshd` table, for IPVS the MESHD-MARK iptables chain plus
 * `ipvsadm -Ln`. Tests compare backends per VIP or published port, whichever backend runs.
 */
import { execa } from 'execa';
import { testLbBackend } from './dev.js';

export interface RealServer {
  addr: string;
  weight: number;
  /** IPVS forwarding method as `ipvsadm -Ln` prints it (`Masq`); nftables: `dnat`. */
  forward: string;
}

export interface KernelLbService {
  fwmark: number;
  /** `vip 10.0.1.2` or `tcp 8080`. */
  matches: string[];
  /** IPVS scheduler (`rr`); nftables: `numgen`. */
  scheduler: string;
  reals: RealServer[];
}

async function inNetns(netns: string, argv: string[]): Promise<{ ok: boolean; out: string }> {
  const res = await execa('nsenter', [`--net=${netns}`, ...argv], { reject: false, timeout: 30_000 });
  return { ok: res.exitCode === 0, out: String(res.stdout) };
}

/** `ipvsadm -Ln`: `FWM  256 rr` then `  -> 10.0.1.3:0   Masq  1  0  0` lines. */
export function parseIpvsadmList(text: string): { fwmark: number; scheduler: string; reals: RealServer[] }[] {
  const out: { fwmark: number; scheduler: string; reals: RealServer[] }[] = [];
  for (const line of text.split('\n')) {
    const svc = /^FWM\s+(\d+)\s+(\S+)/.exec(line);
    if (svc) {
      out.push({ fwmark: Number(svc[1]), scheduler: svc[2]!, reals: [] });
      continue;
    }
    const real = /^\s+->\s+(\d+\.\d+\.\d+\.\d+):\d+\s+(\S+)\s+(\d+)/.exec(line);
    if (real && out.length) out[out.length - 1]!.reals.push({ addr: real[1]!, forward: real[2]!, weight: Number(real[3]) });
  }
  return out;
}

/** One real server's counters in `ipvsadm -Ln --stats --exact`. */
export interface IpvsRealStats {
  /** Connections IPVS scheduled to it. */
  conns: number;
  /** Packets IPVS forwarded to it. */
  inPkts: number;
}

/** `ipvsadm -Ln --stats --exact`: fwmark -> real address -> its counters so far. */
export function parseIpvsadmStats(text: string): Record<number, Record<string, IpvsRealStats>> {
  const out: Record<number, Record<string, IpvsRealStats>> = {};
  let current: Record<string, IpvsRealStats> | undefined;
  for (const line of text.split('\n')) {
    const svc = /^FWM\s+(\d+)/.exec(line);
    if (svc) current = out[Number(svc[1])] = {};
    const real = /^\s+->\s+(\d+\.\d+\.\d+\.\d+):\d+\s+(\d+)\s+(\d+)/.exec(line);
    if (real && current) current[real[1]!] = { conns: Number(real[2]), inPkts: Number(real[3]) };
  }
  return out;
}

/** MESHD-MARK rules in `iptables-save -t mangle`: mark -> what it matches. */
function parseMarkRules(save: string): Map<number, string[]> {
  const marks = new Map<number, string[]>();
  for (const line of save.split('\n')) {
    if (!line.startsWith('-A MESHD-MARK ')) continue;
    const mark = /--set-xmark (0x[0-9a-f]+)\//.exec(line)?.[1];
    const vip = /-d (\d+\.\d+\.\d+\.\d+)\/32/.exec(line)?.[1];
    const port = /-p (tcp|udp) .*--dport (\d+)/.exec(line);
    if (!mark) continue;
    const match = vip ? `vip ${vip}` : port ? `${port[1]} ${port[2]}` : line;
    marks.set(Number(mark), [...(marks.get(Number(mark)) ?? []), match]);
  }
  return marks;
}

async function readIpvs(netns: string): Promise<KernelLbService[]> {
  const [list, save] = await Promise.all([inNetns(netns, ['ipvsadm', '-Ln']), inNetns(netns, ['iptables-save', '-t', 'mangle'])]);
  if (!list.ok) return [];
  const marks = parseMarkRules(save.out);
  return parseIpvsadmList(list.out).map((s) => ({ ...s, matches: marks.get(s.fwmark) ?? [] }));
}

/** Our nftables table: the mark maps, then each `svc_0x<mark>` chain's numgen map of replicas. */
async function readNftables(netns: string): Promise<KernelLbService[]> {
  const res = await inNetns(netns, ['nft', 'list', 'table', 'ip', 'meshd']);
  if (!res.ok) return [];
  const services = new Map<number, KernelLbService>();
  const service = (mark: number) => {
    const s = services.get(mark) ?? { fwmark: mark, matches: [], scheduler: 'numgen', reals: [] };
    services.set(mark, s);
    return s;
  };
  for (const m of res.out.matchAll(/(\d+\.\d+\.\d+\.\d+) : (0x[0-9a-f]+)/g)) service(Number(m[2])).matches.push(`vip ${m[1]}`);
  for (const m of res.out.matchAll(/(tcp|udp) \. (\d+) : (0x[0-9a-f]+)/g)) service(Number(m[3])).matches.push(`${m[1]} ${m[2]}`);
  for (const chain of res.out.split(/\n\s*chain /).slice(1)) {
    const mark = /^svc_(0x[0-9a-f]+)/.exec(chain)?.[1];
    if (!mark) continue;
    const ips = [...new Set(chain.match(/\b\d+\.\d+\.\d+\.\d+\b/g) ?? [])];
    service(Number(mark)).reals.push(...ips.map((addr) => ({ addr, weight: 1, forward: 'dnat' })));
  }
  return [...services.values()].sort((a, b) => a.fwmark - b.fwmark);
}

/** Every load-balanced service programmed in the namespace (empty when it has none or is gone). */
export async function kernelLbServices(netns: string): Promise<KernelLbService[]> {
  return testLbBackend() === 'ipvs' ? readIpvs(netns) : readNftables(netns);
}

/** Addresses taking new connections (weight > 0) for the service matching `match`, sorted. */
export async function activeBackends(netns: string, match: string): Promise<string[]> {
  const svc = (await kernelLbServices(netns)).find((s) => s.matches.includes(match));
  return (svc?.reals ?? [])
    .filter((r) => r.weight > 0)
    .map((r) => r.addr)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** Addresses taking new connections in any service of the namespace, sorted. */
export async function allActiveBackends(netns: string): Promise<string[]> {
  const addrs = (await kernelLbServices(netns)).flatMap((s) => s.reals.filter((r) => r.weight > 0).map((r) => r.addr));
  return [...new Set(addrs)].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** Removes every load-balancing entry we program (a test of self-healing). */
export async function wipeLb(netns: string): Promise<void> {
  const argv = testLbBackend() === 'ipvs' ? ['ipvsadm', '-C'] : ['nft', 'delete', 'table', 'ip', 'meshd'];
  const res = await inNetns(netns, argv);
  if (!res.ok) throw new Error(`${argv.join(' ')} failed in ${netns}`);
}
