import { run } from '../../core/exec.js';
import { ipvsDriver, parseIpvsadmSave, parseIptablesJumps, type LbDesired } from '../../lb/index.js';
import { applySysctls, type LbApplier } from './lb-applier.js';

/**
 * IPVS: observe (`ipvsadm -S -n`, `iptables-save`), plan the difference (a leaving replica goes
 * to weight 0 first, and is deleted at a later sync), apply: our iptables chains in one
 * `iptables-restore --noflush`, then every IPVS change in one `ipvsadm -R`.
 */
export class IpvsApplier implements LbApplier {
  readonly name = 'ipvs' as const;
  private readonly prepared = new Set<string>();

  async apply(netns: string, desired: LbDesired): Promise<void> {
    const [ipvs, save] = await Promise.all([
      run(['ipvsadm', '-S', '-n'], { netns }),
      run(['iptables-save', '-t', 'mangle'], { netns }).then(async (m) => m.stdout + '\n' + (await run(['iptables-save', '-t', 'nat'], { netns })).stdout),
    ]);
    const plan = ipvsDriver.plan(desired, { type: 'ipvs', ipvs: parseIpvsadmSave(ipvs.stdout), jumps: parseIptablesJumps(save) });
    if (!this.prepared.has(netns)) {
      await applySysctls(netns, plan.sysctls);
      this.prepared.add(netns);
    }
    await run(['iptables-restore', '--noflush'], { netns, input: plan.iptablesRestore });
    if (plan.ipvsRestore.length) await run(['ipvsadm', '-R'], { netns, input: plan.ipvsRestore.join('\n') + '\n' });
  }

  forget(netns: string): void {
    this.prepared.delete(netns);
  }
}
