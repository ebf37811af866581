/**
 * Decoding wire bytes: JSON parse + schema check in one step, with a typed error naming the
 * first problem (path and message). Nothing read from NATS is trusted before this.
 */
import type * as z from 'zod';
import { MeshError } from '../errors.js';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Wire bytes that are not valid JSON, or not what the schema says. `reason` names the field. */
export class WireDecodeError extends MeshError {
  constructor(
    readonly reason: string,
    /** The first issue's path (`spec.replicas`), empty for the whole value. */
    readonly path: string = '',
  ) {
    super(reason);
  }
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: WireDecodeError };

/** Renders a zod issue path the way stack-file problems are written: `spec.ports[0].target`. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Checks an already-parsed value against `schema`. */
export function checkAs<S extends z.ZodType>(schema: S, value: unknown): Decoded<z.output<S>> {
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  const path = issue ? issuePath(issue.path) : '';
  const message = issue?.message ?? 'invalid';
  return { ok: false, error: new WireDecodeError(path ? `${path}: ${message}` : message, path) };
}

/** Parses and validates; never throws. `maxBytes` refuses a larger message before parsing it. */
export function tryDecodeAs<S extends z.ZodType>(schema: S, bytes: Uint8Array, opts: { maxBytes?: number } = {}): Decoded<z.output<S>> {
  if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
    return { ok: false, error: new WireDecodeError(`message is ${bytes.length} bytes; the limit is ${opts.maxBytes}`) };
  }
  let value: unknown;
  try {
    value = JSON.parse(dec.decode(bytes));
  } catch (err) {
    return { ok: false, error: new WireDecodeError(`not JSON: ${err instanceof Error ? err.message : String(err)}`) };
  }
  return checkAs(schema, value);
}

/** Parses and validates, or throws WireDecodeError. */
export function decodeAs<S extends z.ZodType>(schema: S, bytes: Uint8Array, opts: { maxBytes?: number } = {}): z.output<S> {
  const r = tryDecodeAs(schema, bytes, opts);
  if (!r.ok) throw r.error;
  return r.value;
}

/** Encodes through the schema: a writer's bug (a value its readers would drop) throws here. */
export function encodeAs<S extends z.ZodType>(schema: S, value: z.input<S>): Uint8Array {
  const r = checkAs(schema, value);
  if (!r.ok) throw new MeshError(`refusing to write an invalid record: ${r.error.reason}`);
  return enc.encode(JSON.stringify(r.value));
}
