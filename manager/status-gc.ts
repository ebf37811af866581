/**
 * Bounds mesh_status. A worker may write any key under `mesh_status.<its id>.` (its NATS
 * permissions cannot be narrower): junk keys would grow the stream and every mirror. The leader
 * purges status keys that name no task of that node, once they have done so on two passes in
 * a row (a status written just before the leader's task mirror caught up is not a stray).
 * Values are bounded by the bucket's max value size, the bucket by its max bytes (buckets.ts).
 * The same sweep bounds mesh_applied (keys: node ids): the record of a node that is gone.
 */
import type { KV } from 'nats';
import { listKeys } from '../core/state/read.js';
import { CoalescingRunner } from '../core/runner.js';
import type { Logger } from '../core/log.js';

export const STATUS_GC_EVERY_MS = 10_000;

/** Pure: which keys to purge now, and which to remember as suspects for the next pass. */
export function planStatusGc(opts: { statusKeys: readonly string[]; taskKeys: ReadonlySet<string>; suspects: ReadonlySet<string> }): { purge: string[]; suspects: Set<string> } {
  const purge: string[] = [];
  const suspects = new Set<string>();
  for (const key of opts.statusKeys) {
    if (opts.taskKeys.has(key)) continue;
    if (opts.suspects.has(key)) purge.push(key);
    else suspects.add(key);
  }
  return { purge, suspects };
}

export class StatusGc {
  private suspects = new Set<string>();
  private readonly runner: CoalescingRunner;

  /** `status`: the bucket swept; `taskKeys`: the keys it may hold; `what`: names its strays in the log. */
  constructor(private readonly deps: { status: KV; taskKeys: () => ReadonlySet<string>; log: Logger; everyMs?: number; what?: string }) {
    const every = deps.everyMs ?? STATUS_GC_EVERY_MS;
    this.runner = new CoalescingRunner({ name: 'status gc', minIntervalMs: every, maxIntervalMs: every, retryMs: every, log: deps.log, run: async () => void (await this.pass()) });
  }

  start(): void {
    this.runner.start();
  }

  async stop(): Promise<void> {
    await this.runner.stop();
    this.suspects.clear();
  }

  async pass(): Promise<number> {
    const statusKeys = await listKeys(this.deps.status);
    const plan = planStatusGc({ statusKeys, taskKeys: this.deps.taskKeys(), suspects: this.suspects });
    this.suspects = plan.suspects;
    let purged = 0;
    for (const key of plan.purge) {
      // The subject list also names deleted keys (their marker): purge only live values.
      const e = await this.deps.status.get(key);
      if (e?.operation !== 'PUT') continue;
      // delete, not purge: mesh_status refuses rollup headers (core/state/buckets.ts)
      await this.deps.status.delete(key);
      purged++;
    }
    if (purged) this.deps.log.info(`purged ${this.deps.what ?? 'status keys naming no task'}`, { count: purged, example: plan.purge[0] });
    return purged;
  }
}
