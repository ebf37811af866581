import type { KV } from 'nats';
import { decode } from './codec.js';

/** Every live value of a bucket (optionally under a key filter), read fresh from the server. */
export async function readAll<T>(kv: KV, filter?: string): Promise<Map<string, { value: T; revision: number }>> {
  const out = new Map<string, { value: T; revision: number }>();
  const keys: string[] = [];
  for await (const k of await kv.keys(filter)) keys.push(k);
  await Promise.all(
    keys.map(async (k) => {
      const e = await kv.get(k);
      if (e && e.operation === 'PUT') out.set(k, { value: decode<T>(e.value), revision: e.revision });
    }),
  );
  return out;
}

export async function readValues<T>(kv: KV, filter?: string): Promise<T[]> {
  return [...(await readAll<T>(kv, filter)).values()].map((e) => e.value);
}

export async function readOne<T>(kv: KV, key: string): Promise<T | undefined> {
  const e = await kv.get(key);
  return e && e.operation === 'PUT' ? decode<T>(e.value) : undefined;
}
