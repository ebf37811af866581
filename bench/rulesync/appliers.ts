/**
 * The worker's own LB appliers, as a worker runs them: nftables sends updates from the table it
 * last wrote; IPVS reads the state back and writes the difference. Each sizes its tools' time
 * limits to the batch. (IPVS drain bookkeeping never comes into play: no real server leaves.)
 */
import type { LbDesired } from '../../lb/index.js';
import { NftablesApplier } from '../../worker/dataplane/lb-applier.js';
import { IpvsApplier } from '../../worker/dataplane/ipvs-applier.js';

export interface BenchApplier {
  readonly name: 'nftables' | 'ipvs';
  apply(netns: string, desired: LbDesired): Promise<void>;
}

export function nftablesApplier(): BenchApplier {
  return new NftablesApplier();
}

export function ipvsApplier(): BenchApplier {
  return new IpvsApplier();
}
