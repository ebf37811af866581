/** Row 4: rule sync at scale, nftables on this kernel, IPVS in the VM lane (full runs only). */
import type { BenchConfig } from '../lib/config.js';
import { benchNetns } from '../lib/netns.js';
import { Cleanup } from '../lib/proc.js';
import type { Section, Table } from '../lib/report.js';
import { median } from '../lib/stats.js';
import { fmt } from '../lib/format.js';
import { nftServiceCount } from './kernel-count.js';
import { measureRuleSync, type RuleSyncResult } from './measure.js';
import { nftablesApplier } from './appliers.js';
import { ruleSyncTable } from './report.js';
import { ruleSyncInVm } from './ipvs-vm.js';

const SERVICES = 1_000;
const BACKENDS = 10;
const BIG = 10_000;
/** Repetitions inside the VM, whose CPU is emulated (each sync there takes many times longer). */
const VM_REPS = 3;
const VM_ADD_REPS = 2;

export interface RuleSyncRow {
  section: Section;
  /** The nftables numbers on this machine (the IPVS part compares against them). */
  host: RuleSyncResult;
}

/** The nftables part, on this machine's kernel. */
export async function ruleSyncRow(cfg: BenchConfig, workDir: string, log: (l: string) => void): Promise<RuleSyncRow> {
  const section: Section = {
    id: 'rulesync',
    title: 'Rule sync at scale',
    method: `The worker's own LB appliers (\`NftablesApplier\`, \`IpvsApplier\`: the \`lb/\` planner, then the real tools, one batch each) program a namespace the bench creates with ${SERVICES.toLocaleString('en-US')} VIP services x ${BACKENDS} backends; a full sync is a new applier's first sync (as after a worker starts: nftables replaces the whole table), then one applier adds one service at a time to ${BIG.toLocaleString('en-US')} existing (as a running worker does: nftables sends only the difference). Time is the wall time of one sync; planning CPU is Node's, tool CPU is the spawned tools' (user + system, from the kernel's accounting of waited-for children); processes are counted with PATH shims during one extra sync of each kind at ${SERVICES.toLocaleString('en-US')} services.`,
    tables: [],
    notes: [],
  };
  const cleanup = new Cleanup();
  let host: RuleSyncResult;
  try {
    const netns = await benchNetns(workDir, 'rulesync', cleanup);
    host = await measureRuleSync({
      newApplier: () => nftablesApplier(),
      netns,
      services: SERVICES,
      backends: BACKENDS,
      bigServices: BIG,
      reps: cfg.syncReps,
      addReps: cfg.addOneReps,
      countKernel: () => nftServiceCount(netns),
      log,
    });
  } finally {
    await cleanup.runAll(log);
  }
  section.tables.push(ruleSyncTable(host, ` on this machine's kernel (${cfg.syncReps} re-syncs, ${cfg.addOneReps} add-one syncs)`));

  if (!cfg.ipvs) section.notes.push('IPVS: not run (--quick). A full run measures it inside the VM lane (this kernel has no ip_vs).');
  return { section, host };
}

/**
 * The IPVS part, in the VM lane (run last: it waits for another run of the lane to finish, and
 * its emulated CPU would disturb every other row). Adds its tables and notes to the section.
 */
export async function addIpvsRuleSync(row: RuleSyncRow, log: (l: string) => void): Promise<void> {
  const { section, host } = row;
  log('ipvs: booting the VM lane (CPU emulated by qemu TCG)');
  const vm = await ruleSyncInVm({ services: SERVICES, backends: BACKENDS, bigServices: BIG, reps: VM_REPS, addReps: VM_ADD_REPS }, log);
  if (typeof vm === 'string') {
    section.notes.push(`IPVS: not measured: ${vm}.`);
    return;
  }
  const tag = ' in the VM (Debian kernel under qemu TCG: the CPU is emulated, so these times are far slower than real hardware)';
  const tables: Table[] = vm.map((r) => ruleSyncTable(r, `${tag}; ${VM_REPS} re-syncs${r.addOne.length ? `, ${r.addOne.length} add-one syncs` : ''}`));
  section.tables.push(...tables);
  section.notes.push(`In the VM, nftables runs only the ${SERVICES.toLocaleString('en-US')}-service syncs, as the reference that tells how much slower the emulated CPU is; its ${BIG.toLocaleString('en-US')}-service syncs are measured above on this machine.`);
  const vmNft = vm.find((r) => r.backend === 'nftables');
  const vmIpvs = vm.find((r) => r.backend === 'ipvs');
  if (vmNft && vmIpvs) {
    const slow = median(vmNft.full.map((x) => x.ms)) / median(host.full.map((x) => x.ms));
    const ipvsVsNft = median(vmIpvs.full.map((x) => x.ms)) / median(vmNft.full.map((x) => x.ms));
    section.notes.push(
      `Emulation factor: the same nftables full re-sync of ${SERVICES.toLocaleString('en-US')} x ${BACKENDS} took ${fmt(slow)}x as long in the VM as on this machine; IPVS took ${fmt(ipvsVsNft)}x as long as nftables in the same VM, so an IPVS re-sync on this machine's CPU would take roughly ${fmt(ipvsVsNft)}x the nftables time above (an estimate from two measurements, not a measurement).`,
    );
  }
}
