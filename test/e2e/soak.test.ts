/**
 * Soak: deploy, scale, remove and redeploy a stack over and over on a 3-node dev cluster, then
 * check that nothing leaked: no namespace, link, address, nftables table or IPVS entry of ours on
 * any node, no allocation left in the alloc bucket, every KV stream's message count back to where
 * it started (delete markers purged), and meshd's memory flat (RSS, and heap after a collection,
 * which meshd logs on SIGUSR2). The counts and heaps at start and end are printed.
 * `MESHD_SOAK_SECONDS` sets how long it churns: 60 here (the CI variant); the full soak is
 * `MESHD_SOAK_SECONDS=1800 npx vitest run test/e2e/soak.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DevCluster, slowdown, waitFor } from '../helpers/dev.js';

const SOAK_MS = Number(process.env.MESHD_SOAK_SECONDS ?? '60') * 1000;
const NODES = ['node-1', 'node-2', 'node-3'];
const HTTP = `["node", "-e", "require('http').createServer((q, s) => s.end('ok')).listen(80)"]`;
const stack = (v: number) => `services:
  web:
    command: ${HTTP}
    deploy: { replicas: ${1 + (v % 3)} }
    ports: ["${8080 + (v % 2)}:80"]
    networks: [front${v % 2 ? ', back' : ''}]
  api:
    command: ${HTTP}
    deploy: { replicas: 2, endpoint_mode: ${v % 2 ? 'dnsrr' : 'vip'} }
    networks: [${v % 2 ? 'back' : 'front'}]
networks:
  front: {}
  back: {}
`;

describe(`soak: churn for ${SOAK_MS / 1000} s, then nothing leaked`, () => {
  let c: DevCluster;
  let dir: string;
  let underlay: string;

  const nodeNs = (n: string) => join(c.dir, 'netns', n);
  const inNs = async (ns: string, argv: string[]) => String((await execa('nsenter', [`--net=${ns}`, ...argv])).stdout);
  const meshdRssKb = async (n: string) => {
    const pid = Number((await readFile(join(c.nodeDir(n), 'meshd.pid'), 'utf8')).trim());
    return Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]);
  };
  const STREAMS = ['nodes', 'networks', 'services', 'tasks', 'status', 'alloc', 'lbaddrs', 'control'].map((b) => `KV_mesh_${b}`);
  const probe = async (ops: string[][]) => {
    const creds = JSON.parse(await readFile(join(c.nodeDir('node-1'), 'state', 'admin.creds'), 'utf8')) as { user: string; password: string };
    const arg = JSON.stringify({ servers: ['nats://172.30.0.11:4222'], user: creds.user, pass: creds.password, ops });
    const res = await execa('nsenter', [`--net=${underlay}`, process.execPath, resolve(import.meta.dirname, '..', 'helpers', 'nats-probe.mjs'), arg]);
    return (JSON.parse(String(res.stdout)) as { results: unknown[] }).results;
  };
  /** Messages in each bucket's stream (live keys + delete markers not yet purged). */
  const streamMessages = async () => {
    const counts = await probe(STREAMS.map((s) => ['streamMessages', s]));
    return Object.fromEntries(counts.map((n, i) => [STREAMS[i]!, n as number]));
  };
  /** Each meshd's heap in use after a full collection, in KiB (it logs it on SIGUSR2). */
  const heapsKb = async () => {
    const since = Date.now() - 1;
    const out: Record<string, number> = {};
    for (const n of NODES) {
      const pid = Number((await readFile(join(c.nodeDir(n), 'meshd.pid'), 'utf8')).trim());
      process.kill(pid, 'SIGUSR2');
      const line = await waitFor(`${n} memory line`, async () => (await c.logSince([n], since, / memory /)).at(-1), slowdown(10_000), 100);
      out[n] = Number(/heapUsedKb=(\d+)/.exec(line)![1]);
    }
    return out;
  };
  const allocKeys = async () => {
    const creds = JSON.parse(await readFile(join(c.nodeDir('node-1'), 'state', 'admin.creds'), 'utf8')) as { user: string; password: string };
    const arg = JSON.stringify({ servers: ['nats://172.30.0.11:4222'], user: creds.user, pass: creds.password, ops: [['keys', 'mesh_alloc'], ['keys', 'mesh_lbaddrs'], ['keys', 'mesh_tasks'], ['keys', 'mesh_services'], ['keys', 'mesh_networks']] });
    const res = await execa('nsenter', [`--net=${underlay}`, process.execPath, resolve(import.meta.dirname, '..', 'helpers', 'nats-probe.mjs'), arg]);
    const [alloc, lbaddrs, tasks, services, networks] = (JSON.parse(String(res.stdout)) as { results: string[][] }).results;
    return { alloc, lbaddrs, tasks, services, networks };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-soak-'));
    for (const v of [0, 1, 2, 3]) await writeFile(join(dir, `v${v}.yml`), stack(v));
    c = await DevCluster.up({ nodes: 3, managers: 1 });
    underlay = join(c.dir, 'netns', 'underlay');
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('leaves no namespace, link, address, rule, LB entry or allocation behind, and meshd memory flat', async () => {
    const baseline = await allocKeys();
    const streamsAtStart = await streamMessages();
    const rss: Record<string, number[]> = Object.fromEntries(NODES.map((n) => [n, []]));
    let heapStart: Record<string, number> = {};
    const end = Date.now() + SOAK_MS;
    let round = 0;
    for (; Date.now() < end || round < 2; round++) {
      const v = round % 4;
      await c.ok(['stack', 'deploy', '-c', join(dir, `v${v}.yml`), 'soak'], { timeoutMs: 120_000 });
      await c.ok(['service', 'scale', `soak_web=${1 + ((round * 5) % 6)}`], { timeoutMs: 60_000 });
      if (round % 2 === 1) await c.ok(['stack', 'rm', 'soak'], { timeoutMs: 60_000 });
      // Memory after the first rounds (warm) and at the end, in the same phase of the cycle.
      for (const n of NODES) rss[n]!.push(await meshdRssKb(n));
      if (round === 1) heapStart = await heapsKb();
    }
    await c.meshctl(['stack', 'rm', 'soak']);

    for (const n of NODES) {
      await waitFor(`${n} clean`, async () => {
        const left = await readdir(join(c.nodeDir(n), 'run', 'netns')).catch(() => []);
        const links = (await inNs(nodeNs(n), ['ip', '-o', 'link'])).split('\n').map((l) => l.split(': ')[1]?.split('@')[0]);
        const addrs = await inNs(nodeNs(n), ['ip', '-o', '-4', 'addr']);
        const tables = await inNs(nodeNs(n), ['nft', 'list', 'tables']);
        const state = { netns: left, links: links.filter((l) => l !== 'lo' && l !== 'eth0'), gatewayAddrs: addrs.match(/172\.31\.\d+\.\d+/g) ?? [], tables: tables.split('\n').filter((t) => t.includes('meshd')) };
        return JSON.stringify(state) === JSON.stringify({ netns: [], links: [], gatewayAddrs: [], tables: [] }) ? true : undefined;
      }, slowdown(30_000), 500);
    }
    // Allocations and records: exactly what there was before the first deploy.
    const last = await waitFor('records and allocations back to the baseline', async () => {
      const now = await allocKeys();
      return JSON.stringify(now) === JSON.stringify(baseline) ? now : undefined;
    }, slowdown(30_000), 500).catch(async () => allocKeys());
    expect(last).toEqual(baseline);
    // Streams: back to their message counts before the first deploy, once the leader's purger
    // has removed the delete markers (a marker goes 30-45 s after the delete).
    const streamsAtEnd = await waitFor('stream message counts back to the start', async () => {
      const now = await streamMessages();
      return STREAMS.every((s) => now[s]! <= streamsAtStart[s]!) ? now : undefined;
    }, slowdown(90_000), 2_000).catch(async () => streamMessages());
    const heapEnd = await heapsKb();
    console.log(`soak: ${round} rounds in ${SOAK_MS / 1000} s\n` +
      `  stream messages start ${JSON.stringify(streamsAtStart)}\n  stream messages end   ${JSON.stringify(streamsAtEnd)}\n` +
      `  meshd heap KiB after round 1 ${JSON.stringify(heapStart)}, at end ${JSON.stringify(heapEnd)}\n` +
      `  meshd RSS KiB after round 1 ${JSON.stringify(Object.fromEntries(NODES.map((n) => [n, rss[n]![1]])))}, at end ${JSON.stringify(Object.fromEntries(NODES.map((n) => [n, rss[n]!.at(-1)])))}`);
    for (const s of STREAMS) expect({ stream: s, messages: streamsAtEnd[s] }).toEqual({ stream: s, messages: expect.toSatisfy((m: number) => m <= streamsAtStart[s]!) });
    // Heap after a collection: within 25% (+8 MiB) of the warm sample after round 1.
    for (const n of NODES) expect({ n, heapKb: heapEnd[n] }).toEqual({ n, heapKb: expect.toSatisfy((kb: number) => kb < heapStart[n]! * 1.25 + 8_192) });
    // meshd's memory: the last sample within 50% (+30 MB) of the one after the first round.
    for (const n of NODES) {
      const samples = rss[n]!;
      expect({ n, rounds: round, grewKb: samples.at(-1)! - samples[1]! }).toEqual({ n, rounds: round, grewKb: expect.toSatisfy((kb: number) => kb < samples[1]! * 0.5 + 30_000) });
    }
  }, SOAK_MS + slowdown(300_000));
});
