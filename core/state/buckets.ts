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
  // Binding asks nothing of the server when the API check is off. With it, every bind is an
  // account-info request that only the JetStream meta leader answers: while the meta leader is
  // being re-elected (4-9 s after its server dies) no meshctl command or worker could start,
  // even when the streams they use still have their leaders.
  const js = nc.jetstream(opts.create ? {} : { checkAPI: false });
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
