import { run } from '../../core/exec.js';
import { drainKey, ipvsDriver, parseIpvsadmSave, parseIptablesJumps, type LbDesired } from '../../lb/index.js';
import { applySysctls, batchTimeoutMs, type LbApplier } from './lb-applier.js';

/** How long a leaving real server stays at weight 0 (no new connections) before it is deleted. */
export const IPVS_DRAIN_MS = 2_000;

/**
 * IPVS: observe (`ipvsadm -S -n`, `iptables-save`), plan the difference, apply: our iptables
 * chains in one `iptables-restore --noflush` (none when they already hold the right rules), then
 * every IPVS change in one `ipvsadm -R` (none when there is none).
 * A leaving replica goes to weight 0 first and is deleted once it has drained for
 * IPVS_DRAIN_MS (connections already open to it carry on meanwhile); the applier remembers
 * when it drained each one and asks for a sync when the drain ends.
 */
export class IpvsApplier implements LbApplier {
  readonly name = 'ipvs' as const;
  onSyncWanted?: () => void;
  private readonly prepared = new Set<string>();
  /** netns -> drainKey -> when we set it to weight 0. */
  private readonly drainedAt = new Map<string, Map<string, number>>();

  constructor(private readonly drainMs = IPVS_DRAIN_MS) {}

  async apply(netns: string, desired: LbDesired): Promise<void> {
    // Reads and writes scale with the services and their replicas.
    const timeoutMs = batchTimeoutMs(desired.services.reduce((n, s) => n + 1 + s.backends.length, 0));
    const [ipvs, save] = await Promise.all([run(['ipvsadm', '-S', '-n'], { netns, timeoutMs }), run(['iptables-save'], { netns, timeoutMs })]);
    const now = Date.now();
    const drains = this.drainedAt.get(netns) ?? new Map<string, number>();
    this.drainedAt.set(netns, drains);
    const draining = new Set([...drains].filter(([, at]) => now - at < this.drainMs).map(([key]) => key));
    // An expired drain is no longer honoured; forget it (a real removed with its whole virtual
    // service gets no '-d' line of its own, so it would otherwise stay here for ever).
    for (const [key, at] of drains) if (now - at >= this.drainMs) drains.delete(key);
    const plan = ipvsDriver.plan(desired, { type: 'ipvs', ipvs: parseIpvsadmSave(ipvs.stdout), jumps: parseIptablesJumps(save.stdout), draining });
    if (!this.prepared.has(netns)) {
      await applySysctls(netns, plan.sysctls);
      this.prepared.add(netns);
    }
    if (plan.iptablesRestore) await run(['iptables-restore', '--noflush'], { netns, input: plan.iptablesRestore, timeoutMs });
    if (plan.ipvsRestore.length) await run(['ipvsadm', '-R'], { netns, input: plan.ipvsRestore.join('\n') + '\n', timeoutMs });
    this.rememberDrains(drains, plan.ipvsRestore, now);
  }

  /** Starts the clock for reals set to weight 0 now; forgets deleted ones. */
  private rememberDrains(drains: Map<string, number>, lines: string[], now: number): void {
    for (const line of lines) {
      const m = /^-([ed]) -f (\d+) -r (\d+\.\d+\.\d+\.\d+):(\d+)\b(.*)$/.exec(line);
      if (!m) continue;
      const key = drainKey(Number(m[2]), m[3]!, Number(m[4]));
      if (m[1] === 'd') drains.delete(key);
      else if (/-w 0$/.test(m[5]!)) {
        drains.set(key, now);
        setTimeout(() => this.onSyncWanted?.(), this.drainMs + 10).unref();
      } else drains.delete(key);
    }
  }

  forget(netns: string): void {
    this.prepared.delete(netns);
    this.drainedAt.delete(netns);
  }
}
