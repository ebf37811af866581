const enc = new TextEncoder();

/** JSON bytes for the wire. Reading goes through core/wire/decode.ts (a schema for every read). */
export function encode(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}
