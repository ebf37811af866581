/**
 * Runs inside the VM (bench/rulesync/ipvs-vm.ts boots it): rule sync at scale for IPVS and, as
 * the same-kernel, same-emulated-CPU reference, for nftables. Writes the results as JSON.
 *
 *   node ipvs-guest.mjs OUT.json SERVICES BACKENDS BIG_SERVICES REPS ADD_REPS
 *
 * nftables runs only the SERVICES-sized syncs here (its BIG sync alone takes minutes under an
 * emulated CPU); it is there to tell how much slower the VM is than this machine.
 */
import { writeFile } from 'node:fs/promises';
import { ipvsApplier, nftablesApplier } from './appliers.js';
import { ensureNetns, removeNetns } from '../../core/netns.js';
import { measureRuleSync, type RuleSyncResult } from './measure.js';
import { ipvsServiceCount, nftServiceCount } from './kernel-count.js';

const [out, services, backends, big, reps, addReps] = process.argv.slice(2);
if (!out) throw new Error('usage: ipvs-guest OUT SERVICES BACKENDS BIG REPS ADD_REPS');
const sizes = { services: Number(services), backends: Number(backends), bigServices: Number(big), reps: Number(reps) };
const log = (l: string) => console.log(`bench-guest: ${l}`);
const results: RuleSyncResult[] = [];
for (const backend of ['ipvs', 'nftables'] as const) {
  const netns = `/tmp/bench-netns-${backend}`;
  await ensureNetns(netns);
  try {
    const newApplier = () => (backend === 'ipvs' ? ipvsApplier() : nftablesApplier());
    const countKernel = () => (backend === 'ipvs' ? ipvsServiceCount(netns) : nftServiceCount(netns));
    results.push(await measureRuleSync({ newApplier, netns, ...sizes, addReps: backend === 'ipvs' ? Number(addReps) : 0, countKernel, log }));
  } finally {
    await removeNetns(netns);
  }
}
await writeFile(out, JSON.stringify(results));
log(`wrote ${out}`);
process.exit(0);
