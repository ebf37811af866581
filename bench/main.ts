/**
 * `npm run bench [-- --quick] [-- --only=ROW,...] [-- --out=FILE | --into=FILE]`: measures meshd
 * beside its references in one run and writes BENCHMARKS.md at the repository root, a --quick run
 * BENCHMARKS.quick.md beside it (`lib/args.ts`; `--into`: only the sections measured, into an
 * existing report). Rows: rulesync, dns, controlplane (no cluster), images and updates (a
 * 3-node cluster of its own each), then throughput, connrate, convergence, footprint (one 5-node
 * dev cluster). A row that cannot be measured is reported with the reason; missed targets are
 * reported, never failures. Exit status 1 only when a row crashed.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseBenchArgs } from './lib/args.js';
import { benchConfig } from './lib/config.js';
import { LoadWatcher, loadNow, machineInfo, otherLoad, OWN_NAMESPACE_DIRS, toolVersions } from './lib/machine.js';
import { Cleanup } from './lib/proc.js';
import { renderReport, spliceSections, type MachineInfo, type Section } from './lib/report.js';
import { imagesRow } from './images/row.js';
import { updatesRow } from './updates/row.js';
import { addIpvsRuleSync, ruleSyncRow, type RuleSyncRow } from './rulesync/row.js';
import { dnsRow } from './dns/row.js';
import { controlPlaneRow } from './controlplane/row.js';
import { clusterRows, CLUSTER_ROWS } from './cluster/rows.js';

const REPO = resolve(import.meta.dirname, '..');
const STANDALONE = ['rulesync', 'dns', 'controlplane', 'images', 'updates'] as const;
const ALL = [...STANDALONE, ...CLUSTER_ROWS];

function commandLine(argv: string[]): string {
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  return `node --import tsx bench/main.ts ${argv.join(' ')}`.trim();
}

const log = (line: string) => console.error(`${new Date().toISOString().slice(11, 19)} bench: ${line}`);

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const args = parseBenchArgs(argv, { repo: REPO, rows: ALL });
  if (process.getuid?.() !== 0) throw new Error('bench: run as root (it creates network namespaces)');
  const cfg = benchConfig(args.quick);
  const started = Date.now();
  const workDir = await mkdtemp(join(tmpdir(), 'meshd-bench-'));
  OWN_NAMESPACE_DIRS.add(workDir);
  const top = new Cleanup();
  top.add(`remove ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
  const m = await machineInfo();
  const machine: MachineInfo = {
    ...m,
    date: new Date().toISOString(),
    command: commandLine(argv),
    tools: await toolVersions(),
    loadBefore: loadNow(),
    otherLoad: (await otherLoad()).map((p) => `${p} at the start`),
  };
  log(`${args.quick ? 'quick' : 'full'} run; rows: ${[...args.only].join(', ')}; other load: ${machine.otherLoad.join('; ') || 'none'}`);
  const watcher = new LoadWatcher().start();
  const sections: Section[] = [];
  let crashed = false;
  const guard = async (id: string, title: string, fn: () => Promise<Section | Section[]>) => {
    log(`--- ${id}`);
    const t0 = Date.now();
    try {
      const s = await fn();
      sections.push(...(Array.isArray(s) ? s : [s]));
    } catch (err) {
      crashed = true;
      log(`${id} failed: ${(err as Error).stack ?? String(err)}`);
      sections.push({ id, title, method: '', tables: [], notes: [], error: `the row crashed: ${(err as Error).message.split('\n')[0]}` });
    }
    log(`${id} took ${Math.round((Date.now() - t0) / 1000)} s`);
  };
  try {
    let rulesync: RuleSyncRow | undefined;
    if (args.only.has('rulesync')) await guard('rulesync', 'Rule sync at scale', async () => (rulesync = await ruleSyncRow(cfg, workDir, log)).section);
    if (args.only.has('dns')) await guard('dns', 'DNS', () => dnsRow(cfg, workDir, log));
    if (args.only.has('controlplane')) await guard('controlplane', 'Control-plane scale (simulation)', () => controlPlaneRow(cfg, workDir, log));
    if (args.only.has('images')) await guard('images', 'Image tasks (3-node dev cluster)', () => imagesRow(cfg, log));
    if (args.only.has('updates')) await guard('updates', 'Rolling updates (3-node dev cluster)', () => updatesRow(cfg, log));
    const wanted = CLUSTER_ROWS.filter((r) => args.only.has(r));
    if (wanted.length) await guard('cluster', 'Dev-cluster rows', () => clusterRows(cfg, wanted, log));
    const row = rulesync;
    if (row && cfg.ipvs) {
      log('--- rulesync (IPVS, VM lane)');
      try {
        await addIpvsRuleSync(row, log);
      } catch (err) {
        crashed = true;
        log(`IPVS rule sync failed: ${(err as Error).stack ?? String(err)}`);
        row.section.notes.push(`IPVS: the VM run failed: ${(err as Error).message.split('\n')[0]}.`);
      }
    }
  } finally {
    await top.runAll(log);
  }
  machine.loadAfter = loadNow();
  machine.otherLoad.push(...watcher.stop());
  machine.durationS = (Date.now() - started) / 1000;
  const order = ['throughput', 'connrate', 'convergence', 'rulesync', 'dns', 'controlplane', 'footprint', 'images', 'updates'];
  sections.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  if (args.into) {
    await writeFile(args.into, spliceSections(await readFile(args.into, 'utf8'), machine, sections));
    log(`wrote ${sections.map((s) => s.title).join(', ')} into ${args.into} in ${Math.round(machine.durationS)} s`);
  } else {
    await writeFile(args.out, renderReport(machine, sections, args.quick));
    log(`wrote ${args.out} in ${Math.round(machine.durationS)} s`);
  }
  return crashed ? 1 : 0;
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: cleaning up`);
    // Newest first: a row's namespaces go before the work directory that holds them.
    void (async () => {
      for (const c of [...Cleanup.live].reverse()) await c.runAll(log);
    })().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log((err as Error).stack ?? String(err));
    process.exit(1);
  },
);
