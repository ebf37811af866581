import { run } from '../../core/exec.js';
import type { Logger } from '../../core/log.js';
import { NFT_FAMILY, NFT_SETS, NFT_TABLE, nftablesDriver, nftablesSysctls, type LbDesired, type NftTable } from '../../lb/index.js';

/** Programs one namespace's load balancer from its desired state, in one batch per sync. */
export interface LbApplier {
  readonly name: 'nftables' | 'ipvs';
  apply(netns: string, desired: LbDesired): Promise<void>;
  /** Drops per-namespace memory when a namespace goes away. */
  forget(netns: string): void;
  /** Set by the reconciler: the applier calls it when it needs another sync (a drain ended). */
  onSyncWanted?: () => void;
}

/** Writes sysctls in one `sysctl -w` call inside the namespace (they are per namespace). */
export async function applySysctls(netns: string, sysctls: Record<string, string>): Promise<void> {
  await run(['sysctl', '-q', '-w', ...Object.entries(sysctls).map(([k, v]) => `${k}=${v}`)], { netns });
}

/**
 * A tool's time limit for a batch of `lines` lines: writing a big table is slow in the kernel
 * (~30 s for a whole nftables table of 10,000 services, ~75 s for IPVS in the VM lane), so the
 * limit grows with the batch (2 ms a line, at least the 30 s every tool gets).
 */
export function batchTimeoutMs(lines: number): number {
  return Math.max(30_000, lines * 2);
}

function nftTimeoutMs(script: string): number {
  let lines = 0;
  for (let i = script.indexOf('\n'); i >= 0; i = script.indexOf('\n', i + 1)) lines++;
  return batchTimeoutMs(lines);
}

/** How often the table is replaced whole even when updates seem to suffice (hand edits inside it). */
export const NFT_FULL_SYNC_MS = 10 * 60_000;

/**
 * nftables: the first sync of a namespace replaces our table whole; later syncs send only the
 * difference from what this applier last wrote (nothing when there is none). Each sync first
 * checks that the table is still there (one cheap listing): if someone deleted it, or an update
 * fails, the table is replaced whole. Every NFT_FULL_SYNC_MS it is replaced anyway, restoring
 * anything flushed or edited by hand inside it.
 */
export class NftablesApplier implements LbApplier {
  readonly name = 'nftables' as const;
  private readonly prepared = new Set<string>();
  /** netns -> the table we last wrote there, and when we last replaced it whole. */
  private readonly written = new Map<string, { table: NftTable; fullAt: number }>();

  constructor(private readonly opts: { log?: Logger; fullSyncMs?: number } = {}) {}

  async apply(netns: string, desired: LbDesired): Promise<void> {
    const base = await this.updateBase(netns);
    if (!this.prepared.has(netns)) {
      await applySysctls(netns, nftablesSysctls());
      this.prepared.add(netns);
    }
    if (base) {
      const plan = nftablesDriver.plan(desired, { type: 'nftables', written: base.table });
      if (plan.full) return this.replace(netns, plan);
      if (await this.update(netns, plan.script)) {
        this.written.set(netns, { table: plan.table, fullAt: base.fullAt });
        return;
      }
    }
    await this.replace(netns, nftablesDriver.plan(desired, { type: 'nftables' }));
  }

  /**
   * What an update may start from: the table we last wrote, unless a periodic full replace is due
   * or the table is no longer intact (then the namespace may be new too: its sysctls again).
   */
  private async updateBase(netns: string): Promise<{ table: NftTable; fullAt: number } | undefined> {
    const last = this.written.get(netns);
    if (!last || Date.now() - last.fullAt >= (this.opts.fullSyncMs ?? NFT_FULL_SYNC_MS)) return undefined;
    if (await this.tableIntact(netns)) return last;
    this.opts.log?.warn('our nftables table was changed by someone else: replacing it whole', { netns });
    this.prepared.delete(netns);
    return undefined;
  }

  /** Sends an update (nothing when the table is already right); false when nft refused it. */
  private async update(netns: string, script: string): Promise<boolean> {
    if (!script) return true;
    try {
      await run(['nft', '-f', '-'], { netns, input: script, timeoutMs: nftTimeoutMs(script) });
      return true;
    } catch (err) {
      this.opts.log?.warn('nftables update failed: replacing the table whole', { netns, err: String(err) });
      return false;
    }
  }

  /** Replaces the table whole; until it succeeds nothing is known about what is written. */
  private async replace(netns: string, plan: { script: string; table: NftTable }): Promise<void> {
    this.written.delete(netns);
    await run(['nft', '-f', '-'], { netns, input: plan.script, timeoutMs: nftTimeoutMs(plan.script) });
    this.written.set(netns, { table: plan.table, fullAt: Date.now() });
  }

  /**
   * One cheap `nft -t list set`: our table and its sets are still there. Not `nft list chain`
   * (which would also show a flushed table): nft loads every chain, rule and anonymous map of the
   * table for it, 3 s per call with 10,000 services. A table flushed by hand is restored by the
   * periodic full replace, or at once when an update touching it fails.
   */
  private async tableIntact(netns: string): Promise<boolean> {
    try {
      await run(['nft', '-t', 'list', 'set', NFT_FAMILY, NFT_TABLE, NFT_SETS.svcMarks], { netns });
      return true;
    } catch {
      return false;
    }
  }

  forget(netns: string): void {
    this.prepared.delete(netns);
    this.written.delete(netns);
  }
}
