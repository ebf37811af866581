import type { KV, NatsConnection } from 'nats';
import { BUCKETS, type BucketKey } from '../names.js';

export type Buckets = Record<BucketKey, KV>;

export interface OpenBucketsOptions {
  /** Create missing buckets with this replication (managers); workers only bind. */
  create?: { replicas: number };
}

/** Opens (and on managers creates) every bucket of the state model. */
export async function openBuckets(nc: NatsConnection, opts: OpenBucketsOptions = {}): Promise<Buckets> {
  const js = nc.jetstream();
  const out: Partial<Buckets> = {};
  for (const [key, bucket] of Object.entries(BUCKETS) as [BucketKey, string][]) {
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
