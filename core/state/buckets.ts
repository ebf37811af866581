import type { KV, NatsConnection } from 'nats';
import { BUCKETS, type BucketKey } from '../names.js';

/** The state buckets; `auth` (credentials) is opened by managers only (workers may not read it). */
export type Buckets = Record<Exclude<BucketKey, 'auth'>, KV> & { auth?: KV };

export interface OpenBucketsOptions {
  /** Create missing buckets with this replication (managers); workers only bind. */
  create?: { replicas: number };
}

/** Opens (and on managers creates) every bucket of the state model. */
export async function openBuckets(nc: NatsConnection, opts: OpenBucketsOptions = {}): Promise<Buckets> {
  const js = nc.jetstream();
  const out: Partial<Buckets> = {};
  for (const [key, bucket] of Object.entries(BUCKETS) as [BucketKey, string][]) {
    if (key === 'auth' && !opts.create) continue;
    out[key] = await js.views.kv(bucket, {
      history: 1,
      bindOnly: !opts.create,
      replicas: opts.create?.replicas ?? 1,
      // Short: a request that does not answer in 2 s is retried (see KvMirror), not waited on.
      timeout: 2_000,
    });
  }
  return out as Buckets;
}
