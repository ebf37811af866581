/**
 * Row 7: footprint. meshd on the manager (node-1, which also runs tasks) and on a worker
 * (node-2), and the manager's nats-server: idle (no stack), then with N services deployed (no
 * replicas: a VIP and an LB entry each on one overlay, and a task on every node using it so
 * every node programs all of them).
 */
import type { BenchConfig } from '../lib/config.js';
import { dur, fmt, mib, pct } from '../lib/format.js';
import { inNs, sh } from '../lib/proc.js';
import type { Section } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { BenchCluster, NODES } from '../cluster/cluster.js';
import { footprintStack } from '../cluster/stacks.js';
import { countSpawnedWithStrace, natsChildOf, RESYNC_MS, sampleProcs, type ProcSample, type SpawnCount } from './measure.js';

export interface FootprintPhase {
  services: number;
  samples: ProcSample[];
  /** Absent when not counted (the idle phase of a --quick run). */
  spawned?: SpawnCount;
  notes: string[];
}

async function phase(c: BenchCluster, cfg: BenchConfig, services: number, notes: string[], strace: boolean): Promise<FootprintPhase> {
  const m1 = await c.meshdPid('node-1');
  const m2 = await c.meshdPid('node-2');
  const nats = await natsChildOf(m1);
  const procs = [
    { label: 'meshd, node-1 (manager + worker)', pid: m1 },
    { label: 'meshd, node-2 (worker)', pid: m2 },
    ...(nats ? [{ label: 'nats-server, node-1', pid: nats }] : []),
  ];
  const samples = await sampleProcs(procs, cfg.footprintWindowS * 1000);
  const spawned = strace ? await countSpawnedWithStrace(m2, cfg.straceWindowS * 1000) : undefined;
  return { services, samples, spawned, notes };
}

export async function footprintIdle(c: BenchCluster, cfg: BenchConfig, log: (l: string) => void): Promise<FootprintPhase> {
  log('footprint: idle cluster');
  await new Promise((r) => setTimeout(r, 1_000));
  return phase(c, cfg, 0, [], cfg.idleStrace);
}

async function vipCount(netns: string): Promise<number> {
  const r = await sh(inNs(netns, ['nft', '-j', 'list', 'map', 'ip', 'meshd', 'vip_marks']), { allowFail: true });
  if (r.code !== 0) return 0;
  const doc = JSON.parse(r.stdout) as { nftables: { map?: { elem?: unknown[] } }[] };
  return doc.nftables.find((x) => x.map)?.map?.elem?.length ?? 0;
}

export async function footprintLoaded(c: BenchCluster, cfg: BenchConfig, log: (l: string) => void): Promise<FootprintPhase> {
  const n = cfg.footprintServices;
  log(`footprint: deploying ${n} services`);
  const t0 = performance.now();
  const deployMs = await c.deploy('fp', footprintStack(n));
  const netId = await c.networkId('fp_big');
  const want = n + 1;
  const deadline = Date.now() + 300_000;
  for (const node of NODES) {
    while ((await vipCount(c.lbNetns(node, netId))) !== want) {
      if (Date.now() > deadline) throw new Error(`${node}'s LB never held all ${want} VIPs`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const convergedMs = performance.now() - t0;
  log(`footprint: every LB holds ${want} VIPs after ${Math.round(convergedMs)} ms`);
  await new Promise((r) => setTimeout(r, 2_000));
  return phase(c, cfg, n, [
    `Deploying the ${n.toLocaleString('en-US')}-service stack took ${dur(deployMs)} (\`meshctl stack deploy -d\`: allocation and writes); every node's LB held all ${want.toLocaleString('en-US')} VIPs ${dur(convergedMs)} after the command started.`,
  ], true);
}

/** The sync period seen by strace on node-2 (resync every 5 s after the previous one ends), else 5 s. */
function periodOf(p: FootprintPhase): number {
  return p.spawned?.periodMs ?? RESYNC_MS;
}

export function footprintSection(cfg: BenchConfig, phases: FootprintPhase[]): Section {
  const rows: string[][] = [];
  for (const ph of phases) {
    for (const s of ph.samples) {
      const r = summarize(s.rss);
      const isMeshd = s.label.startsWith('meshd');
      const syncs = s.windowMs / periodOf(ph);
      const sp = ph.spawned;
      const perSync = !sp ? 'not counted (--quick)' : sp.bursts ? fmt(sp.processes / sp.bursts) : '0';
      rows.push([s.label, ph.services.toLocaleString('en-US'), mib(r.min), mib(r.p50), mib(r.max), `${fmt((s.cpuMs / s.windowMs) * 100)}%`, isMeshd ? dur(s.cpuMs / syncs) : '—', isMeshd && s.label.includes('node-2') ? perSync : '—']);
    }
  }
  const loaded = phases.find((p) => p.services > 0);
  const idle = phases.find((p) => p.services === 0);
  const perSync = (p: FootprintPhase | undefined) => {
    const s = p?.samples.find((x) => x.label.includes('node-2'));
    return s && p ? s.cpuMs / (s.windowMs / periodOf(p)) : NaN;
  };
  const w2 = loaded?.samples.find((x) => x.label.includes('node-2'));
  const toolShare = w2 && w2.cpuMs > 0 ? w2.childrenMs / w2.cpuMs : NaN;
  const tools = loaded?.spawned ? Object.entries(loaded.spawned.byTool).sort((a, b) => b[1] - a[1]).map(([t, k]) => `${k} ${t}`).join(', ') : '';
  return {
    id: 'footprint',
    title: 'Footprint',
    method: `RSS sampled every 0.5 s and CPU (the process plus the tools it ran and waited for) over ${cfg.footprintWindowS} s on the 5-node dev cluster: idle right after \`dev up\`, then with ${cfg.footprintServices.toLocaleString('en-US')} services deployed (no replicas; a VIP and an LB entry each on one /20 overlay, and a global task so every node programs all of them), once every node's LB held them all. Nothing changes during the windows, so the work is the periodic resync (5 s after the previous one ended) plus heartbeats and the mirrors' stall checks. Processes are counted by strace (\`-f -e trace=execve\`) on node-2's meshd over a separate ${cfg.straceWindowS} s window, and grouped into syncs by the gaps between them; "CPU per sync" divides the window's CPU by the number of syncs at the period strace saw.`,
    tables: [
      {
        columns: ['process', 'services', 'RSS min', 'RSS median', 'RSS max', 'CPU (% of one core)', 'CPU per periodic sync', 'processes spawned per sync'],
        rows,
        limit: `With ${cfg.footprintServices.toLocaleString('en-US')} services a worker's periodic resync costs about ${dur(perSync(loaded))} of CPU (${dur(perSync(idle))} idle), ${pct(toolShare)} of it in the processes it starts every time (${tools || 'none'} over ${loaded?.spawned?.bursts ?? 0} sync${loaded?.spawned?.bursts === 1 ? '' : 's'}), which re-read every namespace and rewrite the whole LB table with one \`nft -f\` even when nothing changed; RSS is Node's heap plus every mirrored record.`,
      },
    ],
    notes: phases.flatMap((p) => p.notes),
  };
}
