/**
 * Join replies travel to an inbox any not-yet-joined connection may listen on, so what they
 * carry is sealed with a key only the token's holder can derive: AES-256-GCM, key =
 * HKDF-SHA256(token secret). A manager's reply holds the cluster secrets; a worker token's
 * holder cannot open it.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { MeshError } from '../errors.js';

function keyOf(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'meshd-join', 'meshd join reply v1', 32));
}

export function seal(secret: string, plaintext: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyOf(secret), iv);
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

export function unseal(secret: string, sealed: string): string {
  const raw = Buffer.from(sealed, 'base64');
  try {
    const d = createDecipheriv('aes-256-gcm', keyOf(secret), raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch (err) {
    throw new MeshError('join reply could not be opened with this token (not from this cluster?)', { cause: err });
  }
}
