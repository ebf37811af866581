/**
 * Row 5: DNS. The project's embedded DNS server and unbound serve the same names in one
 * namespace the bench creates; dnsperf queries each in turn (alternating runs), pinned to
 * another CPU than the servers.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchConfig } from '../lib/config.js';
import { busyBetween, cpuTimes, machineCpu } from '../lib/cpu.js';
import { dur, fmt, pct } from '../lib/format.js';
import { benchNetns, ipBatch } from '../lib/netns.js';
import { Cleanup, Daemon, inNs, sh } from '../lib/proc.js';
import type { Section } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';
import { dnsperf, type DnsperfResult } from './dnsperf.js';
import { dnsCluster, expectedAnswers, queryFile, unboundConf } from './zone.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const SERVICES = 100;
const TTL = 5;
const EMBEDDED = '10.53.0.1';
const UNBOUND = '10.53.0.2';
const LATENCY_QPS = 1_000;
const TARGET_QPS = 20_000;

interface Server {
  label: string;
  addr: string;
  daemon: Daemon;
  runs: (DnsperfResult & { cpuPct: number; cpuUsPerQuery: number })[];
  paced: (DnsperfResult & { cpuPct: number; busy: number })[];
}

async function digShort(netns: string, server: string, name: string): Promise<string[]> {
  const r = await sh(inNs(netns, ['dig', '+time=1', '+tries=3', '+short', `@${server}`, name]), { allowFail: true });
  return r.stdout.split('\n').filter(Boolean).sort();
}

async function waitAnswer(netns: string, server: string, name: string, want: string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const got = await digShort(netns, server, name);
    if (got.join() === want.join()) return;
    if (Date.now() > deadline) throw new Error(`${server} answers ${name} with [${got.join(', ')}], expected [${want.join(', ')}]`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function dnsRow(cfg: BenchConfig, workDir: string, log: (l: string) => void): Promise<Section> {
  const cleanup = new Cleanup();
  const cores = cpus().length;
  const serverCpu = cores > 1 ? cores - 1 : undefined;
  const clientCpu = cores > 1 ? 0 : undefined;
  const pin = (argv: string[]) => (serverCpu === undefined ? argv : ['taskset', '-c', String(serverCpu), ...argv]);
  try {
    const dir = join(workDir, 'dns');
    await mkdir(dir, { recursive: true });
    const netns = await benchNetns(workDir, 'dns', cleanup);
    await ipBatch(netns, [`addr add ${EMBEDDED}/32 dev lo`, `addr add ${UNBOUND}/32 dev lo`]);
    const c = dnsCluster(SERVICES);
    const answers = expectedAnswers(c);
    const queries = join(dir, 'queries.txt');
    await writeFile(queries, queryFile(answers));
    const conf = join(dir, 'unbound.conf');
    await writeFile(conf, unboundConf({ addr: UNBOUND, dir, answers, ttl: TTL }));
    await sh(['unbound-checkconf', conf]);

    const embedded = cleanup.daemon(
      await Daemon.start('embedded dns', inNs(netns, pin([process.execPath, '--import', 'tsx', join(REPO, 'bench', 'dns', 'embedded-server.ts'), EMBEDDED, String(SERVICES), String(TTL)])), { cwd: REPO }),
    );
    const unbound = cleanup.daemon(await Daemon.start('unbound', inNs(netns, pin(['unbound', '-d', '-c', conf]))));
    await embedded.waitFor(/LISTENING/, 30_000);
    const servers: Server[] = [
      { label: 'meshd embedded DNS (dns/server.ts, one Node process)', addr: EMBEDDED, daemon: embedded, runs: [], paced: [] },
      { label: 'unbound, 1 thread (reference)', addr: UNBOUND, daemon: unbound, runs: [], paced: [] },
    ];
    // Same answers from both before anything is timed.
    for (const name of ['svc0', 'bench_svc1', 'tasks.svc2']) for (const s of servers) await waitAnswer(netns, s.addr, name, answers.get(name)!);

    for (let i = 0; i < cfg.dnsRuns; i++) {
      for (const s of servers) {
        const before = await cpuTimes(s.daemon.pid);
        const t0 = performance.now();
        const r = await dnsperf({ netns, cpu: clientCpu, server: s.addr, queries, seconds: cfg.dnsSeconds });
        const cpuMs = (await cpuTimes(s.daemon.pid)).self - before.self;
        const cpuPct = cpuMs / (performance.now() - t0);
        s.runs.push({ ...r, cpuPct, cpuUsPerQuery: (cpuMs * 1000) / Math.max(1, r.completed) });
        log(`dns: ${s.addr} ${Math.round(r.qps)} qps, server CPU ${Math.round(cpuPct * 100)}%`);
      }
    }
    for (const s of servers) {
      const before = await cpuTimes(s.daemon.pid);
      const m0 = await machineCpu();
      const t0 = performance.now();
      const r = await dnsperf({ netns, cpu: clientCpu, server: s.addr, queries, seconds: cfg.dnsSeconds, maxQps: LATENCY_QPS });
      const cpuPct = ((await cpuTimes(s.daemon.pid)).self - before.self) / (performance.now() - t0);
      s.paced.push({ ...r, cpuPct, busy: busyBetween(m0, await machineCpu()) });
    }

    const ref = median(servers[1]!.runs.map((r) => r.qps));
    const rows = servers.map((s, i) => {
      const q = summarize(s.runs.map((r) => r.qps));
      const ratio = q.p50 / ref;
      const target = i === 0 ? `>= ${TARGET_QPS.toLocaleString('en-US')} qps and >= 50% of unbound: ${q.p50 >= TARGET_QPS && ratio >= 0.5 ? 'met' : 'missed'}` : '—';
      return [
        s.label,
        String(q.n),
        fmt(q.min),
        fmt(q.p50),
        fmt(q.max),
        i === 0 ? pct(ratio) : '100% (reference)',
        dur(median(s.runs.map((r) => r.avgLatencyMs))),
        pct(median(s.runs.map((r) => r.cpuPct))),
        `${fmt(median(s.runs.map((r) => r.cpuUsPerQuery)))} µs`,
        String(s.runs.reduce((a, r) => a + r.lost, 0)),
        target,
      ];
    });
    const paced = servers.map((s) => {
      const r = s.paced[0]!;
      return [s.label, fmt(r.qps), dur(r.avgLatencyMs), dur(r.minLatencyMs), dur(r.maxLatencyMs), pct(r.cpuPct), String(r.lost)];
    });
    const emb = servers[0]!;
    const embCpu = median(emb.runs.map((r) => r.cpuPct));
    const unbCpu = median(servers[1]!.runs.map((r) => r.cpuPct));
    const embUs = median(emb.runs.map((r) => r.cpuUsPerQuery));
    const unbUs = median(servers[1]!.runs.map((r) => r.cpuUsPerQuery));
    return {
      id: 'dns',
      title: 'DNS',
      method: `Both servers answer the same ${answers.size} names (${SERVICES} services: \`svcN\` and \`bench_svcN\` -> VIP, \`tasks.svcN\` -> 3 replicas; checked equal with dig first) from addresses on one namespace the bench creates. The embedded server is the project's \`EmbeddedDns\` with the name table built by \`dns/names.ts\` from synthetic cluster records, every query taken as from one client task. ${serverCpu !== undefined ? `Servers are pinned to CPU ${serverCpu}, dnsperf to CPU ${clientCpu} (8 clients, 200 outstanding)` : 'One CPU: nothing is pinned'}; runs alternate between the servers, ${cfg.dnsSeconds} s each.`,
      tables: [
        {
          title: 'Throughput (dnsperf as fast as the server answers)',
          columns: ['server', 'runs', 'qps min', 'qps median', 'qps max', 'vs unbound', 'avg latency (median)', 'server CPU (median)', 'server CPU per query (median)', 'lost', 'target'],
          rows,
          limit: `CPU per query: the embedded server spends ${fmt(embUs)} µs (one Node event loop decoding and encoding every packet with dns2), unbound ${fmt(unbUs)} µs, so with a whole core the embedded server would top out near ${fmt(1e6 / embUs)} qps; it got ${pct(embCpu)} of its core here (the rest went to other load on the shared CPU or to waiting on the client)${unbCpu < 0.85 ? `, and unbound at ${pct(unbCpu)} of its core was held back by dnsperf on one core, so its number is a floor` : ''}.`,
        },
        {
          title: `Latency at a paced ${LATENCY_QPS.toLocaleString('en-US')} qps (one run each)`,
          columns: ['server', 'qps', 'avg latency', 'min latency', 'max latency', 'server CPU', 'lost'],
          rows: paced,
          limit: `At this rate the embedded server used ${pct(emb.paced[0]!.cpuPct)} of its core and unbound ${pct(servers[1]!.paced[0]!.cpuPct)}, so the average is one request's handling plus the round trip through the kernel, and the tail is scheduling: the machine's CPUs were ${pct(median(servers.map((s) => s.paced[0]!.busy)))} busy during these runs (other load included)${emb.paced[0]!.qps < LATENCY_QPS * 0.95 ? `, and the embedded server fell behind the paced rate (${fmt(emb.paced[0]!.qps)} qps answered)` : ''}.`,
        },
      ],
      notes: [
        '"lost" counts queries dnsperf gave up on (no answer within 2 s, or still outstanding when a run ended).',
        `Response codes seen (last run of each): ${servers.map((s) => `${s.addr === EMBEDDED ? 'embedded' : 'unbound'}: ${s.runs.at(-1)?.rcodes ?? '?'}`).join('; ')}.`,
      ],
    };
  } finally {
    await cleanup.runAll(log);
  }
}
