/**
 * The worker's LB appliers step for step (worker/dataplane/lb-applier.ts NftablesApplier,
 * ipvs-applier.ts IpvsApplier: the same planner calls, the same tools in the same order, one
 * batch each), except that every tool may run up to `timeoutMs`: the product's `run()` gives a
 * tool 30 s, and a large enough nftables sync takes longer than that (the report says so).
 * IPVS drain bookkeeping is left out: no real server leaves in these syncs.
 */
import { run } from '../../core/exec.js';
import { ipvsDriver, nftablesDriver, parseIptablesJumps, parseIpvsadmSave, type LbDesired } from '../../lb/index.js';
import { applySysctls } from '../../worker/dataplane/lb-applier.js';

export interface BenchApplier {
  readonly name: 'nftables' | 'ipvs';
  apply(netns: string, desired: LbDesired): Promise<void>;
}

export const PRODUCT_TOOL_TIMEOUT_MS = 30_000;

export function nftablesApplier(timeoutMs: number): BenchApplier {
  const prepared = new Set<string>();
  return {
    name: 'nftables',
    async apply(netns, desired) {
      const plan = nftablesDriver.plan(desired, { type: 'nftables' });
      if (!prepared.has(netns)) {
        await applySysctls(netns, plan.sysctls);
        prepared.add(netns);
      }
      await run(['nft', '-f', '-'], { netns, input: plan.script, timeoutMs });
    },
  };
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
