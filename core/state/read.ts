import type { JetStreamManager, KV, KvEntry } from 'nats';
import { tryDecodeAs } from '../wire/decode.js';
import { badRecord, type RecordKind } from '../wire/records.js';
import { RateLimitedReporter } from '../wire/reporter.js';
import { createLogger } from '../log.js';

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

export interface ReadOptions {
  /** Key filter (`<nodeId>.>`). */
  filter?: string;
  /** Where bad records are reported; default: one reporter per process (stderr). */
  reporter?: RateLimitedReporter;
}

let fallbackReporter: RateLimitedReporter | undefined;
/** Readers without their own reporter (meshctl) share one; it is rate-limited and bounded. */
export function defaultReporter(): RateLimitedReporter {
  fallbackReporter ??= new RateLimitedReporter({ log: createLogger() });
  return fallbackReporter;
}

/**
 * One KV entry checked against its kind: a PUT whose value is malformed, or is stored under a
 * key it does not belong to, is reported and read as absent (undefined), like a deleted key.
 */
export function decodeEntry<T>(kv: KV, kind: RecordKind<T>, e: KvEntry | null | undefined, reporter?: RateLimitedReporter): T | undefined {
  if (!e || e.operation !== 'PUT') return undefined;
  const r = tryDecodeAs(kind.schema, e.value);
  const bucket = (kv as unknown as { bucket?: string }).bucket ?? 'kv';
  if (!r.ok) {
    (reporter ?? defaultReporter()).report(badRecord(bucket, e.key, r.error.reason));
    return undefined;
  }
  const want = kind.keyOf?.(r.value);
  if (want !== undefined && want !== e.key) {
    (reporter ?? defaultReporter()).report(badRecord(bucket, e.key, `record belongs under key ${want}`));
    return undefined;
  }
  return r.value;
}

/** Every live, valid value of a bucket (optionally under a key filter), read fresh from the server. */
export async function readAll<T>(kv: KV, kind: RecordKind<T>, opts: ReadOptions = {}): Promise<Map<string, { value: T; revision: number }>> {
  const out = new Map<string, { value: T; revision: number }>();
  const keys = await listKeys(kv, opts.filter);
  await Promise.all(
    keys.map(async (k) => {
      const e = await kv.get(k);
      const value = decodeEntry(kv, kind, e, opts.reporter);
      if (e && value !== undefined) out.set(k, { value, revision: e.revision });
    }),
  );
  return out;
}

export async function readValues<T>(kv: KV, kind: RecordKind<T>, opts: ReadOptions = {}): Promise<T[]> {
  return [...(await readAll(kv, kind, opts)).values()].map((e) => e.value);
}

export async function readOne<T>(kv: KV, kind: RecordKind<T>, key: string, opts: Pick<ReadOptions, 'reporter'> = {}): Promise<T | undefined> {
  return decodeEntry(kv, kind, await kv.get(key), opts.reporter);
}
