import { run } from '../../core/exec.js';
import { nftablesDriver, type LbDesired } from '../../lb/index.js';

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

/** nftables: the whole table replaced in one `nft -f` transaction (no moment without rules). */
export class NftablesApplier implements LbApplier {
  readonly name = 'nftables' as const;
  private readonly prepared = new Set<string>();

  async apply(netns: string, desired: LbDesired): Promise<void> {
    const plan = nftablesDriver.plan(desired, { type: 'nftables' });
    if (!this.prepared.has(netns)) {
      await applySysctls(netns, plan.sysctls);
      this.prepared.add(netns);
    }
    await run(['nft', '-f', '-'], { netns, input: plan.script });
  }

  forget(netns: string): void {
    this.prepared.delete(netns);
  }
}
