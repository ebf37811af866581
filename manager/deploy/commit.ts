import { releaseEndpoints } from '../endpoints.js';
import type { Buckets } from '../../core/state/buckets.js';
import type { NetworkRecord, ServiceRecord } from '../../core/model.js';
import { encode } from '../../core/state/codec.js';
import { readAll } from '../../core/state/read.js';
import { RECORDS } from '../../core/wire/records.js';
import type { Allocator } from '../allocator.js';
import { releaseLbAddress } from '../lb-addresses.js';
import { droppedAllocations, releaseNetwork, releaseService } from './resources.js';
import type { CommitJournal } from './stack-lock.js';
import { RegistryAuthStore } from '../registry-auth.js';

export interface CommitDeps {
  buckets: Buckets;
  allocator: Allocator;
}

/**
 * Applies a deploy's journal: networks first (services refer to them), then services (releasing
 * what an updated service no longer holds), then removals. Every step is idempotent (puts of the
 * same record; deletes; releases that check the owner), so a journal can be applied again after a
 * crash part-way through.
 */
export async function applyJournal(deps: CommitDeps, j: CommitJournal): Promise<void> {
  const { buckets, allocator } = deps;
  for (const n of j.networks) await buckets.networks.put(n.id, encode(n));
  for (const { record: s, before } of j.services) {
    await buckets.services.put(s.id, encode(s));
    if (before) {
      const dropped = droppedAllocations(before, s);
      const ports = dropped.ports.filter((p) => !s.endpoint.ports.some((q) => q.published === p.published && q.protocol === p.protocol));
      await releaseService(allocator, before, { ...dropped, ports });
    }
  }
  for (const s of j.removeServices) await removeServiceRecord(deps, s);
  for (const n of j.removeNetworks) await removeNetworkRecord(deps, n);
}

export async function removeServiceRecord(deps: CommitDeps, svc: ServiceRecord): Promise<void> {
  await deps.buckets.services.delete(svc.id);
  await releaseService(deps.allocator, svc);
  // Its registry login goes with it (a leftover is also swept by the leader: manager/registry-auth.ts).
  if (svc.registryAuth && deps.buckets.secrets) await new RegistryAuthStore(deps.buckets.secrets).remove(svc.id);
}

export async function removeNetworkRecord(deps: CommitDeps, net: NetworkRecord): Promise<void> {
  await deps.buckets.networks.delete(net.id);
  // Containers of other runtimes on it lose it, as Docker's would with `network rm --force`.
  await releaseEndpoints({ kv: deps.buckets.endpoints, allocator: deps.allocator }, { networkId: net.id });
  for (const { value } of (await readAll(deps.buckets.lbaddrs, RECORDS.lbaddrs, { filter: `${net.id}.>` })).values()) {
    await releaseLbAddress(deps.buckets.lbaddrs, deps.allocator, value);
  }
  await releaseNetwork(deps.allocator, net);
}
