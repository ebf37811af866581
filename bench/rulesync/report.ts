/** Rule-sync results as report tables. */
import { dur, fmt, pct } from '../lib/format.js';
import type { Table } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';
import type { RuleSyncResult, SyncSample } from './measure.js';

export const TARGET_FULL_MS = 2_000;
export const TARGET_ADD_MS = 50;

function spawns(by: Record<string, number>): string {
  const total = Object.values(by).reduce((a, b) => a + b, 0);
  const parts = Object.entries(by).map(([t, n]) => `${n} ${t}`);
  return `${total}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

function row(label: string, samples: SyncSample[], procs: string, target?: number): string[] {
  const s = summarize(samples.map((x) => x.ms));
  const plan = median(samples.map((x) => x.selfCpuMs));
  const user = median(samples.map((x) => x.toolUserMs));
  const sys = median(samples.map((x) => x.toolSysMs));
  return [
    label,
    String(s.n),
    dur(s.min),
    dur(s.p50),
    dur(s.max),
    dur(plan),
    `${dur(user)} + ${dur(sys)}`,
    procs,
    target === undefined ? '—' : `<= ${dur(target)}: ${s.p50 <= target ? 'met' : `missed (${fmt(s.p50 / target)}x)`}`,
  ];
}

const n = (x: number) => x.toLocaleString('en-US');

export function ruleSyncTable(r: RuleSyncResult, note: string): Table {
  const size = `${n(r.services)} x ${r.backends}`;
  const big = `${n(r.bigServices)} x ${r.backends}`;
  const rows = [
    row(`first sync, ${size}, empty namespace`, [r.cold], '—'),
    row(`full re-sync, ${size}`, r.full, spawns(r.spawnsFull), TARGET_FULL_MS),
  ];
  if (r.bigCold) rows.push(row(`first sync, ${big}`, [r.bigCold], '—'));
  if (r.addOne.length) rows.push(row(`add 1 service to ${big}`, r.addOne, spawns(r.spawnsAddOne), TARGET_ADD_MS));
  else rows.push([`add 1 service to ${big}`, '0', '—', '—', '—', '—', '—', spawns(r.spawnsAddOne), 'not run here (see notes)']);
  const all = [...r.full, ...r.addOne, ...(r.bigCold ? [r.bigCold] : [])];
  const wall = all.reduce((a, x) => a + x.ms, 0);
  const kernel = all.reduce((a, x) => a + x.toolSysMs, 0);
  const userTools = all.reduce((a, x) => a + x.toolUserMs, 0);
  const planning = all.reduce((a, x) => a + x.selfCpuMs, 0);
  const addMs = r.addOne.length ? median(r.addOne.map((x) => x.ms)) : undefined;
  const whole =
    r.backend === 'nftables'
      ? 'the nftables backend sends only the difference from the table it last wrote (one `nft -t list set` checks the table is still there, then one `nft -f` with the change), while a first sync or a replace writes every service'
      : 'the IPVS backend reads the whole state back (`ipvsadm -S`, `iptables-save`) and rewrites every mark rule whenever one changed (a sync that changes nothing writes nothing), so adding one service still handles all of them';
  const fullSys = median(r.full.map((x) => x.toolSysMs));
  const grew = r.bigCold && fullSys > 0 ? r.bigCold.toolSysMs / fullSys : undefined;
  const scale = r.bigServices / r.services;
  const shape = grew === undefined ? '' : grew > 3 * scale ? ', far faster than linear' : grew > 1.5 * scale ? ', faster than linear' : ', about linear';
  const growth = grew !== undefined ? `; the kernel time grew ${fmt(grew)}x for ${fmt(scale)}x the services (replacing the ${n(r.services)}-service table with ${n(r.bigServices)} services against replacing it with the same ${n(r.services)})${shape}` : '';
  return {
    title: `${r.backend}${note}`,
    columns: ['sync', 'runs', 'min', 'median', 'max', 'planning CPU (median)', 'tool CPU user + system (median)', 'processes per sync', 'target'],
    rows,
    limit:
      `Over these syncs the tools' system time (the kernel's work for them) came to ${pct(kernel / wall)} of the wall time, their user time to ${pct(userTools / wall)} and planning in Node to ${pct(planning / wall)}${(kernel + userTools + planning) / wall > 1.005 ? ' (more than 100% together: they overlap)' : ''}; ` +
      `${addMs !== undefined ? `adding one service took ${dur(addMs)} because ` : ''}${whole}${growth}` +
      `${r.kernelServices !== undefined ? ` (read back: the kernel held ${n(r.kernelServices)} services at the end)` : ''}.`,
  };
}
