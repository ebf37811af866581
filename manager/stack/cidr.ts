/** IPv4 subnets for `ipam.config[].subnet`, and overlap between the subnets of one file. */
import { type Conv, describe, fail, ok } from './issues.js';

export const MIN_PREFIX = 8;
export const MAX_PREFIX = 29;

export interface Subnet {
  /** Canonical `a.b.c.d/n`. */
  cidr: string;
  /** First address as an unsigned 32-bit number. */
  start: number;
  /** Last address, inclusive. */
  end: number;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const OCTET = /^(0|[1-9]\d{0,2})$/;

function formatAddr(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
}

export function parseSubnet(text: string): Conv<Subnet> {
  const m = CIDR.exec(text);
  const octets = m ? m.slice(1, 5) : [];
  if (!m || octets.some((o) => !OCTET.test(o) || Number(o) > 255)) {
    return fail(`must be an IPv4 subnet in CIDR form like "10.0.1.0/24", got ${describe(text)}`);
  }
  const prefix = Number(m[5]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) {
    return fail(`prefix length must be from ${MIN_PREFIX} to ${MAX_PREFIX}, got /${prefix}`);
  }
  const addr = octets.reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - prefix);
  const start = addr - (addr % size);
  if (start !== addr) {
    return fail(`${text} has host bits set; did you mean ${formatAddr(start)}/${prefix}?`);
  }
  return ok({ cidr: text, start, end: start + size - 1 });
}

export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  return a.start <= b.end && b.start <= a.end;
}
