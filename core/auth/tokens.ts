/**
 * Join tokens, as `docker swarm join-token`: `MESHTKN-1-<fingerprint>-<secret>`.
 * The fingerprint names the cluster (and, with TLS, pins its CA: sha256 of the CA certificate);
 * the secret differs for managers and workers, so a worker token cannot join a manager.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../errors.js';

export type JoinRole = 'manager' | 'worker';

export interface JoinToken {
  fingerprint: string;
  secret: string;
}

const TOKEN = /^MESHTKN-1-([0-9a-f]{32})-([0-9a-z]{40})$/;
const SECRET_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** 40 characters of [0-9a-z] from the CSPRNG (about 206 bits). */
export function newSecret(): string {
  const out: string[] = [];
  while (out.length < 40) {
    for (const b of randomBytes(64)) if (b < 252 && out.length < 40) out.push(SECRET_ALPHABET[b % 36]!);
  }
  return out.join('');
}

/** The cluster's fingerprint: sha256 of `material` (the CA certificate with TLS, else the cluster key). */
export function fingerprintOf(material: string): string {
  return createHash('sha256').update(material).digest('hex').slice(0, 32);
}

export function formatToken(t: JoinToken): string {
  return `MESHTKN-1-${t.fingerprint}-${t.secret}`;
}

/** Parses a token; `field` names the flag or setting it came from in the error. */
export function parseToken(text: string, field = '--join-token'): JoinToken {
  const m = TOKEN.exec(text.trim());
  if (!m) throw new ValidationError([`${field}: not a join token (expected MESHTKN-1-<32 hex>-<40 characters>; get one with: meshctl cluster join-token worker|manager)`]);
  return { fingerprint: m[1]!, secret: m[2]! };
}

/** Constant-time comparison of two secrets. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
