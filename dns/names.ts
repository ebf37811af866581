import type { EndpointRecord, NetworkRecord, ServiceRecord, TaskRecord, TaskStatus } from '../core/model.js';
import { addrOf } from '../core/ipnet.js';
import { isServing } from '../core/serving.js';

/**
 * The embedded DNS's name table as a pure function of cluster state, and the scoped lookup:
 * a task sees only names of services that share a network with it, and every answer is the
 * address on that shared network.
 */

export interface NameTableInput {
  networks: readonly NetworkRecord[];
  services: readonly ServiceRecord[];
  tasks: readonly TaskRecord[];
  statuses: ReadonlyMap<string, TaskStatus>;
  /** Nodes marked down: their replicas are not answered for. */
  downNodes: ReadonlySet<string>;
  /** CNI containers (by their name, on their network); absent: none. */
  endpoints?: readonly EndpointRecord[];
}

/** One name on one network, and what it resolves to there. */
interface Entry {
  networkId: string;
  addrs: string[];
  /** True for `tasks.<svc>` and dnsrr names: answers are shuffled replica addresses. */
  shuffle: boolean;
}

export interface NameTable {
  /** lower-cased name -> entries, one per network it exists on. */
  byName: Map<string, Entry[]>;
  /** address -> PTR target, per network. */
  reverse: Map<string, { networkId: string; name: string }>;
  /** Which networks a task or CNI container (by id) is on, ingress excluded; and whether all are internal. */
  clients: Map<string, { networks: Set<string>; internalOnly: boolean }>;
}

export type Lookup =
  | { type: 'answer'; addrs: string[] }
  | { type: 'ptr'; name: string }
  | { type: 'nodata' }
  | { type: 'nxdomain' }
  | { type: 'forward' }
  | { type: 'refused' };


function add(table: NameTable, name: string, e: Entry): void {
  const key = name.toLowerCase();
  table.byName.set(key, [...(table.byName.get(key) ?? []), e]);
}

export function buildNameTable(input: NameTableInput): NameTable {
  const ingress = new Set(input.networks.filter((n) => n.ingress).map((n) => n.id));
  const internal = new Set(input.networks.filter((n) => n.internal).map((n) => n.id));
  const table: NameTable = { byName: new Map(), reverse: new Map(), clients: new Map() };
  for (const svc of input.services) {
    const short = svc.name.slice(svc.stack.length + 1);
    for (const att of svc.networks) {
      if (ingress.has(att.networkId)) continue;
      const replicas = input.tasks
        .filter((t) => t.serviceId === svc.id && isServing(t, input.statuses.get(t.id), input.downNodes))
        .flatMap((t) => t.addresses.filter((a) => a.networkId === att.networkId).map((a) => addrOf(a.addr)));
      const vip = svc.endpoint.vips.find((v) => v.networkId === att.networkId);
      const names = [...new Set([svc.name, short, ...att.aliases])];
      for (const n of names) {
        if (svc.spec.endpointMode === 'vip' && vip) add(table, n, { networkId: att.networkId, addrs: [addrOf(vip.addr)], shuffle: false });
        else add(table, n, { networkId: att.networkId, addrs: replicas, shuffle: true });
        add(table, `tasks.${n}`, { networkId: att.networkId, addrs: replicas, shuffle: true });
      }
      if (vip) table.reverse.set(addrOf(vip.addr), { networkId: att.networkId, name: svc.name });
    }
  }
  for (const t of input.tasks) {
    if (t.desiredState !== 'running') continue;
    const nets = t.addresses.filter((a) => !ingress.has(a.networkId));
    for (const a of nets) {
      add(table, t.name, { networkId: a.networkId, addrs: [addrOf(a.addr)], shuffle: false });
      table.reverse.set(addrOf(a.addr), { networkId: a.networkId, name: t.name });
    }
    const ids = new Set(nets.map((a) => a.networkId));
    table.clients.set(t.id, { networks: ids, internalOnly: ids.size > 0 && [...ids].every((n) => internal.has(n)) });
  }
  // A container of another runtime resolves and is resolved as a task on its network would be.
  for (const e of input.endpoints ?? []) {
    add(table, e.name, { networkId: e.networkId, addrs: [addrOf(e.addr)], shuffle: false });
    table.reverse.set(addrOf(e.addr), { networkId: e.networkId, name: e.name });
    table.clients.set(e.id, { networks: new Set([e.networkId]), internalOnly: internal.has(e.networkId) });
  }
  return table;
}

/** `d.c.b.a.in-addr.arpa` -> `a.b.c.d`, or undefined. */
export function ptrAddress(qname: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/i.exec(qname);
  return m ? [m[4], m[3], m[2], m[1]].join('.') : undefined;
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Resolves a question for the task `clientTaskId`. Names the cluster knows but the client cannot
 * see are NXDOMAIN (never forwarded); a known name of another type is an empty NOERROR; anything
 * else is forwarded upstream, except for tasks only on internal networks.
 */
export function lookup(table: NameTable, opts: { clientTaskId: string | undefined; qname: string; qtype: 'A' | 'AAAA' | 'PTR' | 'OTHER'; random?: () => number }): Lookup {
  const name = opts.qname.replace(/\.$/, '').toLowerCase();
  const client = opts.clientTaskId ? table.clients.get(opts.clientTaskId) : undefined;
  if (!client) return { type: 'refused' };
  const visible = (networkId: string) => client.networks.has(networkId);
  const addr = ptrAddress(name);
  if (addr !== undefined) {
    const r = table.reverse.get(addr);
    if (r && visible(r.networkId)) return opts.qtype === 'PTR' ? { type: 'ptr', name: r.name } : { type: 'nodata' };
    if (r) return { type: 'nxdomain' };
    return client.internalOnly ? { type: 'refused' } : { type: 'forward' };
  }
  const entries = table.byName.get(name);
  if (entries) {
    const seen = entries.filter((e) => visible(e.networkId));
    if (seen.length === 0) return { type: 'nxdomain' };
    if (opts.qtype !== 'A') return { type: 'nodata' };
    const e = seen[0]!;
    const addrs = e.shuffle ? shuffled(e.addrs, opts.random ?? Math.random) : e.addrs;
    return addrs.length ? { type: 'answer', addrs } : { type: 'nodata' };
  }
  return client.internalOnly ? { type: 'refused' } : { type: 'forward' };
}
