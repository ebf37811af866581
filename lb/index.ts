/**
 * The load-balancer backends behind one interface. A driver only plans: `plan(desired, observed)`
 * is pure and returns data; the worker applies it in ONE batch per namespace and tool.
 *
 *   nftables: `nft -f -` with `plan.script`, after `plan.sysctls`: an update from the table the
 *             applier last wrote (`observed.written`), or a full replace of table `ip meshd`
 *             when there is none or an update cannot express the change. Atomic either way.
 *   ipvs:     `plan.sysctls` (after ip_vs is loaded), then `iptables-restore --noflush` with
 *             `plan.iptablesRestore`, then `ipvsadm -R` with `plan.ipvsRestore` (skip when empty).
 */
import { planIpvs, ipvsSysctls, renderIptablesMarks, type IpvsDraining, type IpvsObserved, type IptablesJumps } from './ipvs.js';
import type { LbDesired } from './model.js';
import { nftTable, renderNftablesTable, renderNftablesUpdate, type NftTable } from './nftables.js';

export type LbBackendName = 'ipvs' | 'nftables';

/** What a driver needs to know about the namespace now. */
export type LbObserved =
  /** The table as the applier last wrote it (it checks that it is still there); none = replace. */
  | { type: 'nftables'; written?: NftTable }
  /** `parseIpvsadmSave(ipvsadm -S -n)` and `parseIptablesJumps(iptables-save)`. */
  | { type: 'ipvs'; ipvs: IpvsObserved; jumps: IptablesJumps; draining?: IpvsDraining };

export type LbPlan =
  | {
      type: 'nftables';
      /** `nft -f -` input; '' = the table is already as desired. */
      script: string;
      /** True when `script` replaces the whole table. */
      full: boolean;
      /** The table once `script` is applied: the next plan's `written`. */
      table: NftTable;
      sysctls: Record<string, string>;
    }
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
  plan: (desired, observed) => {
    const table = nftTable(desired);
    const update = observed.written && renderNftablesUpdate(observed.written, table);
    if (update !== undefined) return { type: 'nftables', script: update, full: false, table, sysctls: nftablesSysctls() };
    return { type: 'nftables', script: renderNftablesTable(table), full: true, table, sysctls: nftablesSysctls() };
  },
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
