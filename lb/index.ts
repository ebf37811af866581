/**
 * The load-balancer backends behind one interface. A driver only plans: `plan(desired, observed)`
 * is pure and returns data; the worker applies it in ONE batch per namespace and tool.
 *
 *   nftables: `nft -f -` with `plan.script` (replaces table `ip meshd` atomically; needs no
 *             observation), after `plan.sysctls`.
 *   ipvs:     `plan.sysctls` (after ip_vs is loaded), then `iptables-restore --noflush` with
 *             `plan.iptablesRestore`, then `ipvsadm -R` with `plan.ipvsRestore` (skip when empty).
 */
import { planIpvs, ipvsSysctls, renderIptablesMarks, type IpvsDraining, type IpvsObserved, type IptablesJumps } from './ipvs.js';
import type { LbDesired } from './model.js';
import { renderNftables } from './nftables.js';

export type LbBackendName = 'ipvs' | 'nftables';

/** What a driver needs to know about the namespace now. */
export type LbObserved =
  /** Nothing: the script replaces our whole table. */
  | { type: 'nftables' }
  /** `parseIpvsadmSave(ipvsadm -S -n)` and `parseIptablesJumps(iptables-save)`. */
  | { type: 'ipvs'; ipvs: IpvsObserved; jumps: IptablesJumps; draining?: IpvsDraining };

export type LbPlan =
  | { type: 'nftables'; script: string; sysctls: Record<string, string> }
  | {
      type: 'ipvs';
      /** `iptables-restore --noflush` input (always applied: it re-renders our chains). */
      iptablesRestore: string;
      /** `ipvsadm -R` input lines; empty = IPVS already as desired. */
      ipvsRestore: string[];
      sysctls: Record<string, string>;
    };

export interface LbBackendDriver<N extends LbBackendName = LbBackendName> {
  readonly name: N;
  plan(desired: LbDesired, observed: Extract<LbObserved, { type: N }>): Extract<LbPlan, { type: N }>;
}

/** Sysctls the nftables backend needs: DNATed traffic is forwarded to the replicas. */
export function nftablesSysctls(): Record<string, string> {
  return { 'net.ipv4.ip_forward': '1' };
}

export const nftablesDriver: LbBackendDriver<'nftables'> = {
  name: 'nftables',
  plan: (desired) => ({ type: 'nftables', script: renderNftables(desired), sysctls: nftablesSysctls() }),
};

export const ipvsDriver: LbBackendDriver<'ipvs'> = {
  name: 'ipvs',
  plan: (desired, observed) => ({
    type: 'ipvs',
    iptablesRestore: renderIptablesMarks(desired, observed.jumps),
    ipvsRestore: planIpvs(desired, observed.ipvs, observed.draining),
    sysctls: ipvsSysctls(),
  }),
};

export function lbDriver<N extends LbBackendName>(name: N): LbBackendDriver<N>;
export function lbDriver(name: LbBackendName): LbBackendDriver<'ipvs'> | LbBackendDriver<'nftables'> {
  return name === 'ipvs' ? ipvsDriver : nftablesDriver;
}

export * from './model.js';
export * from './names.js';
export * from './nftables.js';
export * from './ipvs.js';
export { iptablesMarkRule } from './iptables.js';
