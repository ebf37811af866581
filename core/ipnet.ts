/** IPv4 arithmetic for pools, subnets and addresses. */

export interface Cidr {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(text: string): Cidr {
  const [ip, len] = text.split('/');
  const prefix = Number(len);
  if (!ip || len === undefined || !/^\d{1,2}$/.test(len) || prefix > 32) throw new Error(`not an IPv4 CIDR: ${text}`);
  const base = ipToInt(ip);
  return { base: (base & maskOf(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(p);
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
}

export function contains(outer: Cidr, ip: number): boolean {
  return ((ip & maskOf(outer.prefix)) >>> 0) === outer.base;
}

/** The subnets of `size` prefix inside `pool`, in order. */
export function* subnetsOf(pool: Cidr, prefix: number): Generator<Cidr> {
  if (prefix < pool.prefix) return;
  const step = 2 ** (32 - prefix);
  const count = 2 ** (prefix - pool.prefix);
  for (let i = 0; i < count; i++) yield { base: (pool.base + i * step) >>> 0, prefix };
}

/** Usable host addresses of a subnet, skipping network, broadcast and `skipFirst` more. */
export function* hostsOf(c: Cidr, skipFirst = 0): Generator<string> {
  const n = size(c);
  for (let i = 1 + skipFirst; i < n - 1; i++) yield intToIp(c.base + i);
}

/** The gateway address Docker reserves: the first host of the subnet. */
export function gatewayOf(c: Cidr): string {
  return intToIp(c.base + 1);
}

/** A stable MAC from an IPv4 address (Docker's 02:42:a:b:c:d scheme): same address, same MAC. */
export function macOf(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** The address part of `a.b.c.d/len`. */
export function addrOf(cidr: string): string {
  return cidr.split('/')[0] ?? cidr;
}
