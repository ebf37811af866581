import type { KV, KvEntry } from 'nats';
import { ALLOC_KEYS, DYNAMIC_PORTS, FIRST_FWMARK, FIRST_VNI, LAST_FWMARK, LAST_VNI } from '../core/names.js';
import { encode } from '../core/state/codec.js';
import { decodeEntry } from '../core/state/read.js';
import { RECORDS } from '../core/wire/records.js';
import { listKeys } from '../core/state/read.js';
import { ConflictError, ExhaustedError } from '../core/errors.js';
import { formatCidr, hostsOf, overlaps, parseCidr, subnetsOf, type Cidr } from '../core/ipnet.js';

/** Who holds an allocation. */
interface Claim {
  owner: string;
}

type SubnetTable = Record<string, string>;

/**
 * Cluster-wide numbers, each a compare-and-swap on a KV revision: a key is created only if absent,
 * so two managers racing for the same value cannot both win (no node-local counters).
 */
export class Allocator {
  constructor(private readonly kv: KV) {}

  /** Claims `key` for `owner`; false when someone already holds it. */
  async claim(key: string, owner: string): Promise<boolean> {
    try {
      await this.kv.create(key, encode({ owner } satisfies Claim));
      return true;
    } catch (err) {
      if (isCasFailure(err)) return false;
      throw err;
    }
  }

  /** Releases `key` if `owner` holds it; a no-op otherwise. */
  async release(key: string, owner: string): Promise<void> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT' || decodeEntry(this.kv, RECORDS.claim, e)?.owner !== owner) return;
    try {
      await this.kv.delete(key, { previousSeq: e.revision });
    } catch (err) {
      if (!isCasFailure(err)) throw err;
    }
  }

  async ownerOf(key: string): Promise<string | undefined> {
    const e = await this.kv.get(key);
    // A malformed claim still holds its key (create fails on it); it reads as held by `?`.
    return e && e.operation === 'PUT' ? (decodeEntry(this.kv, RECORDS.claim, e)?.owner ?? '?') : undefined;
  }

  async vni(owner: string): Promise<number> {
    return this.first(range(FIRST_VNI, LAST_VNI), ALLOC_KEYS.vni, owner, 'vni', 'VNIs');
  }

  async fwmark(owner: string): Promise<number> {
    return this.first(range(FIRST_FWMARK, LAST_FWMARK), ALLOC_KEYS.fwmark, owner, 'fwmark', 'fwmarks');
  }

  /** A published port: the requested one (conflict if taken) or the first free dynamic one. */
  async port(protocol: string, owner: string, requested?: number): Promise<number> {
    if (requested !== undefined) {
      const key = ALLOC_KEYS.port(protocol, requested);
      if (await this.claim(key, owner)) return requested;
      if ((await this.ownerOf(key)) === owner) return requested;
      throw new ConflictError(`port ${requested}/${protocol} is already published by ${await this.ownerOf(key)}`);
    }
    return this.first(range(DYNAMIC_PORTS.first, DYNAMIC_PORTS.last), (p) => ALLOC_KEYS.port(protocol, p), owner, `port.${protocol}`, 'dynamic ports');
  }

  /** An address in `subnet` (gateway .1 excluded) for `owner`; returns it without prefix. */
  async ip(networkId: string, subnet: string, owner: string): Promise<string> {
    const cidr = parseCidr(subnet);
    return this.first(hostsOf(cidr, 1), (a) => ALLOC_KEYS.ip(networkId, a), owner, `ip.${networkId}`, `addresses in ${subnet}`);
  }

  async releaseIp(networkId: string, addr: string, owner: string): Promise<void> {
    await this.release(ALLOC_KEYS.ip(networkId, addr.split('/')[0] ?? addr), owner);
  }

  /**
   * A subnet: the requested one (must not overlap any held subnet) or the first free
   * `prefix`-sized block of `pool`. All subnets live in one key updated by revision, so an
   * overlap check and the claim are one atomic step.
   */
  async subnet(opts: { owner: string; requested?: string; pool: string; prefix: number }): Promise<string> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const entry = await this.kv.get(ALLOC_KEYS.subnets);
      const table: SubnetTable = this.decodeTable(entry);
      const held = Object.keys(table).map(parseCidr);
      const chosen = opts.requested ? this.checkRequested(opts.requested, table, opts.owner) : pickFree(parseCidr(opts.pool), opts.prefix, held);
      if (table[chosen] === opts.owner) return chosen;
      const next = { ...table, [chosen]: opts.owner };
      if (await this.casSubnets(entry?.operation === 'PUT' ? entry.revision : entry?.revision, next)) return chosen;
    }
    throw new ConflictError('subnet allocation kept losing races; try again');
  }

  async releaseSubnet(subnet: string, owner: string): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const entry = await this.kv.get(ALLOC_KEYS.subnets);
      if (!entry || entry.operation !== 'PUT') return;
      const table = this.decodeTable(entry);
      if (table[subnet] !== owner) return;
      const { [subnet]: _gone, ...rest } = table;
      if (await this.casSubnets(entry.revision, rest)) return;
    }
    throw new ConflictError(`could not release subnet ${subnet}: too many concurrent writers`);
  }

  async subnets(): Promise<SubnetTable> {
    const entry = await this.kv.get(ALLOC_KEYS.subnets);
    return this.decodeTable(entry);
  }

  /** Only managers write the table; a malformed one cannot be read, so nothing is allocated from it. */
  private decodeTable(entry: KvEntry | null): SubnetTable {
    if (!entry || entry.operation !== 'PUT') return {};
    const table = decodeEntry(this.kv, RECORDS.subnets, entry);
    if (!table) throw new ConflictError(`the subnet table (${ALLOC_KEYS.subnets}) is malformed; refusing to allocate from it`);
    return table;
  }

  private checkRequested(requested: string, table: SubnetTable, owner: string): string {
    const want = parseCidr(requested);
    const text = formatCidr(want);
    for (const [cidr, holder] of Object.entries(table)) {
      if (holder === owner && cidr === text) continue;
      if (overlaps(parseCidr(cidr), want)) throw new ConflictError(`subnet ${text} overlaps ${cidr}, already used by ${holder}`);
    }
    return text;
  }

  private async casSubnets(revision: number | undefined, table: SubnetTable): Promise<boolean> {
    try {
      if (revision === undefined) await this.kv.create(ALLOC_KEYS.subnets, encode(table));
      else await this.kv.update(ALLOC_KEYS.subnets, encode(table), revision);
      return true;
    } catch (err) {
      if (isCasFailure(err)) return false;
      throw err;
    }
  }

  private async first<T extends string | number>(
    candidates: Iterable<T>,
    keyOf: (c: T) => string,
    owner: string,
    prefix: string,
    what: string,
  ): Promise<T> {
    // Serial allocation: values never used first (the key list includes released ones, whose
    // subjects remain), so a freed VIP or port is not handed out again at once; then the rest.
    const used = await this.keysUnder(prefix);
    const seen: T[] = [];
    for (const c of candidates) {
      if (used.has(keyOf(c))) {
        seen.push(c);
        continue;
      }
      if (await this.claim(keyOf(c), owner)) return c;
    }
    for (const c of seen) if (await this.claim(keyOf(c), owner)) return c;
    throw new ExhaustedError(`no ${what} left`);
  }

  private async keysUnder(prefix: string): Promise<Set<string>> {
    return new Set(await listKeys(this.kv, `${prefix}.>`));
  }
}

function pickFree(pool: Cidr, prefix: number, held: Cidr[]): string {
  for (const candidate of subnetsOf(pool, prefix)) {
    if (!held.some((h) => overlaps(h, candidate))) return formatCidr(candidate);
  }
  throw new ExhaustedError(`no /${prefix} subnet left in pool ${formatCidr(pool)}`);
}

function* range(first: number, last: number): Generator<number> {
  for (let n = first; n <= last; n++) yield n;
}

/** nats.js reports a lost compare-and-swap as a JetStream API error "wrong last sequence". */
export function isCasFailure(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /wrong last sequence|key exists/i.test(msg);
}
