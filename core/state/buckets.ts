import type { KV, NatsConnection } from 'nats';
import { BUCKETS, MANAGER_ONLY_BUCKETS, type BucketKey } from '../names.js';
import type { Logger } from '../log.js';
import { NATS_MAX_PAYLOAD, STATUS_MAX_BUCKET_BYTES, STATUS_MAX_VALUE_BYTES } from '../wire/limits.js';

type ManagerOnly = (typeof MANAGER_ONLY_BUCKETS)[number];
/** The state buckets; `auth` and `secrets` (credentials) are opened by managers only (workers may not read them). */
export type Buckets = Record<Exclude<BucketKey, ManagerOnly>, KV> & Partial<Record<ManagerOnly, KV>>;

export interface OpenBucketsOptions {
  /** Create missing buckets with this replication (managers); workers only bind. */
  create?: { replicas: number };
  /** Where a failure to apply a bucket's size limits is reported (it does not stop the start). */
  log?: Logger;
}

/**
 * How long one KV request may take: 2 s, or `$MESH_KV_TIMEOUT_MS` where the machine is known to be
 * slow (the VM lane's emulated CPU: a loaded manager's JetStream took longer there).
 */
export function kvTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.MESH_KV_TIMEOUT_MS);
  return Number.isInteger(v) && v > 0 ? v : 2_000;
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
    if ((MANAGER_ONLY_BUCKETS as readonly string[]).includes(key) && !opts.create) continue;
    out[key] = await js.views.kv(bucket, {
      history: 1,
      bindOnly: !opts.create,
      replicas: opts.create?.replicas ?? 1,
      // Short: a request that does not answer in 2 s is retried (see KvMirror), not waited on.
      timeout: kvTimeoutMs(),
      ...(opts.create ? { maxValueSize: BUCKET_LIMITS[key].maxValueSize, max_bytes: BUCKET_LIMITS[key].max_bytes } : {}),
    });
    if (opts.create) await ensureLimits(nc, bucket, BUCKET_LIMITS[key]).catch((err) => opts.log?.warn('could not apply bucket limits', { bucket, err }));
  }
  return out as Buckets;
}

/**
 * Size limits per bucket. mesh_status is a bucket workers write (any key under their own
 * id; mesh_applied is the other, one key each): its values are small and its size capped, so junk cannot fill the managers' disks.
 * The cap refuses new writes when full (KV discards new); the leader's status GC
 * (manager/status-gc.ts) purges keys that name no task, which frees it again.
 */
type BucketLimits = { maxValueSize: number; max_bytes?: number; allow_rollup_hdrs?: boolean };

/**
 * mesh_status refuses rollup headers: a message with `Nats-Rollup: all` on a worker's own key
 * purged every node's statuses (JetStream checks only the subject, which is the worker's). Its
 * writers delete instead (`kv.delete`, a DEL marker; history 1 drops the value).
 */
const BUCKET_LIMITS: Record<BucketKey, BucketLimits> = {
  nodes: { maxValueSize: 256 * 1024 },
  networks: { maxValueSize: 64 * 1024 },
  services: { maxValueSize: NATS_MAX_PAYLOAD },
  tasks: { maxValueSize: 64 * 1024 },
  status: { maxValueSize: STATUS_MAX_VALUE_BYTES, max_bytes: STATUS_MAX_BUCKET_BYTES, allow_rollup_hdrs: false },
  alloc: { maxValueSize: NATS_MAX_PAYLOAD },
  lbaddrs: { maxValueSize: 64 * 1024 },
  control: { maxValueSize: 64 * 1024 },
  auth: { maxValueSize: 64 * 1024 },
  secrets: { maxValueSize: 256 * 1024 },
  // Workers write their own key: small values, few keys (one per node), no rollup (as mesh_status).
  applied: { maxValueSize: 4 * 1024, max_bytes: 16 * 1024 * 1024, allow_rollup_hdrs: false },
  endpoints: { maxValueSize: 16 * 1024 },
};

/** Buckets created before these limits existed get them (nats.js applies options only on create). */
async function ensureLimits(nc: NatsConnection, bucket: string, limits: BucketLimits): Promise<void> {
  const jsm = await nc.jetstreamManager();
  const info = await jsm.streams.info(`KV_${bucket}`);
  const want = { max_msg_size: limits.maxValueSize, max_bytes: limits.max_bytes ?? -1, allow_rollup_hdrs: limits.allow_rollup_hdrs ?? true };
  if (info.config.max_msg_size === want.max_msg_size && info.config.max_bytes === want.max_bytes && info.config.allow_rollup_hdrs === want.allow_rollup_hdrs) return;
  await jsm.streams.update(`KV_${bucket}`, { ...info.config, ...want });
}
