import type { JetStreamManager, KV } from 'nats';
import { decode } from './codec.js';

/**
 * The keys of a bucket, read from its stream's subject list (answered by the stream leader)
 * instead of kv.keys(), which creates an ephemeral consumer. nats-server before 2.12 may place
 * an ephemeral consumer on an offline peer (nats-server PR #7165), so with one manager down a
 * third of consumer creations time out; this path needs no consumer at all.
 */
export async function listKeys(kv: KV, filter = '>'): Promise<string[]> {
  // nats.js 2.x keeps the bucket name and its manager on the KV object; the stream is KV_<bucket>.
  const { bucket, jsm } = kv as unknown as { bucket: string; jsm: JetStreamManager };
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
  return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
}

/** Every live value of a bucket (optionally under a key filter), read fresh from the server. */
export async function readAll<T>(kv: KV, filter?: string): Promise<Map<string, { value: T; revision: number }>> {
  const out = new Map<string, { value: T; revision: number }>();
  const keys = await listKeys(kv, filter);
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
