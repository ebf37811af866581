/**
 * Row 9, rolling updates (issue 14): a 10-replica service updated at parallelism 1, 2 and 5 next
 * to parallelism 0 (all at once), in the same run on one 3-node dev cluster of its own: how long
 * each update takes and how many requests fail meanwhile, through the routing mesh from the
 * underlay and through the VIP by name from a client task.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCluster } from '../../test/helpers/dev.js';
import { activeBackends } from '../../test/helpers/lb-state.js';
import { BenchCluster, nodeAddr } from '../cluster/cluster.js';
import { HTTP_CMD } from '../cluster/stacks.js';
import type { BenchConfig } from '../lib/config.js';
import { dur } from '../lib/format.js';
import { OWN_NAMESPACE_DIRS } from '../lib/machine.js';
import { Cleanup } from '../lib/proc.js';
import type { Section } from '../lib/report.js';
import type { LoopTarget } from './loop.js';
import { RequestLoop } from './loops.js';
import { failureKinds, failureSpan, UPDATE_VARIANTS, updatesSection, type UpdateRun, type UpdatesSetup } from './section.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const STACK = 'u';
const SERVICE = `${STACK}_web`;
const REPLICAS = 10;
const PORT = 18090;
const INTERVAL_MS = 20;
const TIMEOUT_MS = 1_000;
/** The loops keep going this long after meshctl exits (a late failure still counts). */
const TAIL_MS = 500;

const STACK_YAML = `services:
  web:
    command: ${HTTP_CMD}
    deploy: { replicas: ${REPLICAS} }
    ports: ["${PORT}:8080"]
    networks: [net]
  client:
    command: ["sleep", "100000"]
    networks: [net]
networks:
  net: {}
`;

interface Row {
  ID: string;
  DesiredState: string;
  CurrentState: string;
  Addresses: { Network: string; Addr: string }[];
}

const byAddr = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** Polls `check` (undefined: done; else what is still missing) until done; the timeout names what was missing last. */
async function waitUntil(what: string, check: () => Promise<string | undefined>, timeoutMs: number, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing = await check().catch((err: Error) => err.message);
    if (missing === undefined) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}: ${missing}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Until the service is at rest: its current replicas (all REPLICAS of them) running, no replaced one still
 * running, and every node's ingress LB (published port) and overlay LB (VIP) selecting exactly
 * the current ones.
 */
async function atRest(c: BenchCluster, lb: { netId: string; vip: string }): Promise<void> {
  await waitUntil(`${SERVICE} at rest`, async () => {
    const rows = await c.dev.list<Row>(['service', 'ps', SERVICE]);
    const current = rows.filter((r) => r.DesiredState === 'Running');
    const show = (r: Row) => `${r.ID.slice(0, 12)} ${r.DesiredState}/${r.CurrentState}`;
    if (current.length !== REPLICAS || !current.every((r) => r.CurrentState.startsWith('Running'))) return `current tasks: ${current.map(show).join(', ')}`;
    const leaving = rows.filter((r) => r.DesiredState !== 'Running' && r.CurrentState.startsWith('Running'));
    if (leaving.length) return `replaced tasks still running: ${leaving.map(show).join(', ')}`;
    const addrs = (net: (a: Row['Addresses'][number]) => boolean) => current.map((r) => r.Addresses.find(net)?.Addr.split('/')[0] ?? '?').sort(byAddr).join();
    const ingress = addrs((a) => a.Network === 'ingress');
    const overlay = addrs((a) => a.Network !== 'ingress');
    for (const node of NODES) {
      const inIngress = (await activeBackends(join(c.runDir(node), 'netns', 'ingress_sbox'), `tcp ${PORT}`)).join();
      if (inIngress !== ingress) return `${node}'s ingress LB selects [${inIngress}], the tasks are [${ingress}]`;
      const inVip = (await activeBackends(c.lbNetns(node, lb.netId), `vip ${lb.vip}`)).join();
      if (inVip !== overlay) return `${node}'s LB for ${lb.vip} selects [${inVip}], the tasks are [${overlay}]`;
    }
    return undefined;
  }, 180_000);
}

/** One update at `parallelism` with both loops running; throws unless it completed. */
async function measure(c: BenchCluster, loops: Record<'mesh' | 'vip', { loop: RequestLoop; target: LoopTarget }>, o: { parallelism: number; rep: number; n: number }): Promise<UpdateRun> {
  const opts = { intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS };
  await Promise.all([loops.mesh.loop.begin(loops.mesh.target, opts), loops.vip.loop.begin(loops.vip.target, opts)]);
  const startedAt = performance.timeOrigin + performance.now();
  const t0 = performance.now();
  const res = await c.dev.meshctl(['service', 'update', '--env-add', `V=${o.n}`, '--update-parallelism', String(o.parallelism), SERVICE], { timeoutMs: 600_000 });
  const wallMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, TAIL_MS));
  const [mesh, vip] = await Promise.all([loops.mesh.loop.end(), loops.vip.loop.end()]);
  if (res.code !== 0) throw new Error(`the update at parallelism ${o.parallelism} did not complete (meshctl exited ${res.code}): ${res.stderr.trim()} ${res.stdout.trim().split('\n').slice(-3).join(' / ')}`);
  const [s] = JSON.parse(await c.dev.ok(['service', 'inspect', SERVICE])) as { UpdateStatus?: { State: string; StartedAt: string; CompletedAt?: string } }[];
  const u = s?.UpdateStatus;
  if (u?.State !== 'completed' || !u.CompletedAt) throw new Error(`after meshctl exited 0, ${SERVICE}'s UpdateStatus is ${JSON.stringify(u)}`);
  return { parallelism: o.parallelism, rep: o.rep, startedAt, wallMs, statusMs: Date.parse(u.CompletedAt) - Date.parse(u.StartedAt), mesh, vip };
}

export async function updatesRow(cfg: BenchConfig, log: (l: string) => void): Promise<Section> {
  const cleanup = new Cleanup();
  const runs: UpdateRun[] = [];
  const setup: UpdatesSetup = { replicas: REPLICAS, port: PORT, intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS, reps: cfg.updateReps, service: SERVICE };
  try {
    const stackDir = await mkdtemp(join(tmpdir(), 'meshd-bench-updates-'));
    cleanup.add('remove stack files', () => rm(stackDir, { recursive: true, force: true }));
    log('updates: dev up --nodes 3 --managers 1');
    const dev = await DevCluster.up({ nodes: 3, managers: 1 });
    OWN_NAMESPACE_DIRS.add(dev.home);
    cleanup.add(`dev down ${dev.name}`, () => dev.down());
    const c = new BenchCluster(dev, stackDir);
    await c.deploy(STACK, STACK_YAML, false);
    const lb = { netId: await c.networkId(`${STACK}_net`), vip: await c.vip(SERVICE) };
    const [client] = await c.runningTasks(`${STACK}_client`);
    if (!client) throw new Error(`no running ${STACK}_client task`);
    const [mesh, vip, dnsServer] = await Promise.all([RequestLoop.start('underlay', c.underlay, cleanup), RequestLoop.start(`client on ${client.Node}`, c.taskNetns(client), cleanup), c.dnsServer(client)]);
    const loops = {
      mesh: { loop: mesh, target: { kind: 'mesh', urls: NODES.map((node) => `http://${nodeAddr(node)}:${PORT}/`) } },
      vip: { loop: vip, target: { kind: 'vip-by-name', dnsServer, name: 'web', port: 8080 } },
    } satisfies Record<string, { loop: RequestLoop; target: LoopTarget }>;
    let n = 0;
    // Before the cluster goes: what its nodes said last, for the log (the report gets the error).
    cleanup.add('log the nodes\' last lines if the row failed', async () => {
      if (runs.length < cfg.updateReps * UPDATE_VARIANTS.length) log(await dev.logTails(30));
    });
    for (let rep = 0; rep < cfg.updateReps; rep++) {
      for (let i = 0; i < UPDATE_VARIANTS.length; i++) {
        const parallelism = UPDATE_VARIANTS[(i + rep) % UPDATE_VARIANTS.length]!;
        await atRest(c, lb);
        const r = await measure(c, loops, { parallelism, rep, n: ++n });
        runs.push(r);
        log(`updates: rep ${rep + 1}/${cfg.updateReps}, parallelism ${parallelism}: ${dur(r.wallMs)}; failed ${r.mesh.failures.length}/${r.mesh.requests} (mesh), ${r.vip.failures.length}/${r.vip.requests} (VIP); failures at ${failureSpan(r.mesh, r.startedAt)} (mesh: ${failureKinds([r.mesh])}), ${failureSpan(r.vip, r.startedAt)} (VIP: ${failureKinds([r.vip])})`);
      }
    }
  } finally {
    await cleanup.runAll(log);
  }
  return updatesSection(runs, setup);
}
