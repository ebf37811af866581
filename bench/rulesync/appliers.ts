/**
 * The worker's LB appliers: nftables is the worker's own NftablesApplier (updates from the
 * table it last wrote). IPVS step for step as ipvs-applier.ts IpvsApplier (the same planner
 * calls, the same tools in the same order, one batch each), except that every tool may run up
 * to `timeoutMs`: the product's `run()` gives a tool 30 s (the report says when a sync took longer).
 * IPVS drain bookkeeping is left out: no real server leaves in these syncs.
 */
import { run } from '../../core/exec.js';
import { ipvsDriver, parseIptablesJumps, parseIpvsadmSave, type LbDesired } from '../../lb/index.js';
import { applySysctls, NftablesApplier } from '../../worker/dataplane/lb-applier.js';

export interface BenchApplier {
  readonly name: 'nftables' | 'ipvs';
  apply(netns: string, desired: LbDesired): Promise<void>;
}

export const PRODUCT_TOOL_TIMEOUT_MS = 30_000;

/** The worker's own nftables applier (it sizes nft's time limit to the script itself). */
export function nftablesApplier(_timeoutMs: number): BenchApplier {
  return new NftablesApplier();
}

export function ipvsApplier(timeoutMs: number): BenchApplier {
  const prepared = new Set<string>();
  return {
    name: 'ipvs',
    async apply(netns, desired) {
      const [ipvs, save] = await Promise.all([
        run(['ipvsadm', '-S', '-n'], { netns, timeoutMs }),
        run(['iptables-save', '-t', 'mangle'], { netns, timeoutMs }).then(async (m) => m.stdout + '\n' + (await run(['iptables-save', '-t', 'nat'], { netns, timeoutMs })).stdout),
      ]);
      const plan = ipvsDriver.plan(desired, { type: 'ipvs', ipvs: parseIpvsadmSave(ipvs.stdout), jumps: parseIptablesJumps(save), draining: new Set() });
      if (!prepared.has(netns)) {
        await applySysctls(netns, plan.sysctls);
        prepared.add(netns);
      }
      await run(['iptables-restore', '--noflush'], { netns, input: plan.iptablesRestore, timeoutMs });
      if (plan.ipvsRestore.length) await run(['ipvsadm', '-R'], { netns, input: plan.ipvsRestore.join('\n') + '\n', timeoutMs });
    },
  };
}
