/**
 * Two `meshctl stack deploy` of the same stack at once (two managers, so the two requests may land
 * on different ones): the stack lock serialises them, so the stack ends as exactly one of the two
 * files, with no duplicate service and no allocation whose owner is gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DevCluster, slowdown, waitFor } from '../helpers/dev.js';
import type { LbAddress, NetworkRecord, ServiceRecord, TaskRecord } from '../../core/model.js';

const SLEEP = `["sleep", "3600"]`;
/**
 * Each file also has EXTRA services with no replicas: they cost a deploy allocations (fwmark, VIP)
 * but no task, and make one deploy long enough (several hundred ms) that two started together
 * overlap, so without the lock they would interleave.
 */
const EXTRA = 12;
const extras = (net: string, prefix: string) => Array.from({ length: EXTRA }, (_, i) => `  ${prefix}${i}: { command: ${SLEEP}, deploy: { replicas: 0 }, networks: [${net}] }\n`).join('');
const FILES = {
  a: `services:
  web: { command: ${SLEEP}, deploy: { replicas: 2 }, ports: ["8181:80"], networks: [front] }
  api: { command: ${SLEEP}, networks: [front] }
${extras('front', 'x')}networks:
  front: {}
`,
  b: `services:
  web: { command: ${SLEEP}, deploy: { replicas: 1 }, ports: ["8182:80"], networks: [back] }
  worker: { command: ${SLEEP}, networks: [back] }
${extras('back', 'y')}networks:
  back: {}
`,
};
const extraRows = (prefix: string) => Object.fromEntries(Array.from({ length: EXTRA }, (_, i) => [`race_${prefix}${i}`, [0, undefined]]));
/** What each file deploys: service -> [replicas, published port]. */
const EXPECTED: Record<'a' | 'b', Record<string, [number, number | undefined]>> = {
  a: { race_web: [2, 8181], race_api: [1, undefined], ...extraRows('x') },
  b: { race_web: [1, 8182], race_worker: [1, undefined], ...extraRows('y') },
};

interface KvState {
  services: Record<string, ServiceRecord>;
  networks: Record<string, NetworkRecord>;
  tasks: Record<string, TaskRecord>;
  lbaddrs: Record<string, LbAddress>;
  alloc: Record<string, { owner: string } | Record<string, string>>;
}

describe('concurrent stack deploys', () => {
  let c: DevCluster;
  let dir: string;

  const readKv = async (): Promise<KvState> => {
    const creds = JSON.parse(await readFile(join(c.nodeDir('node-1'), 'state', 'admin.creds'), 'utf8')) as { user: string; password: string };
    const buckets = ['mesh_services', 'mesh_networks', 'mesh_tasks', 'mesh_lbaddrs', 'mesh_alloc'];
    const arg = JSON.stringify({ servers: ['nats://172.30.0.11:4222'], user: creds.user, pass: creds.password, ops: buckets.map((b) => ['values', b]) });
    const res = await execa('nsenter', [`--net=${join(c.dir, 'netns', 'underlay')}`, process.execPath, resolve(import.meta.dirname, '..', 'helpers', 'nats-probe.mjs'), arg]);
    const [services, networks, tasks, lbaddrs, alloc] = (JSON.parse(String(res.stdout)) as { results: unknown[] }).results;
    return { services, networks, tasks, lbaddrs, alloc } as KvState;
  };

  /** Allocation keys whose owner no longer exists (every one must belong to a live record). */
  const orphans = (s: KvState): string[] => {
    const owners = new Set([...Object.keys(s.services), ...Object.keys(s.networks), ...Object.values(s.tasks).map((t) => t.id)]);
    for (const l of Object.values(s.lbaddrs)) owners.add(`lb.${l.nodeId}`);
    const out: string[] = [];
    for (const [k, v] of Object.entries(s.alloc)) {
      if (k === 'subnets') {
        for (const [subnet, owner] of Object.entries(v as Record<string, string>)) if (!owners.has(owner)) out.push(`subnet ${subnet} (${owner})`);
      } else if (!owners.has((v as { owner: string }).owner)) out.push(`${k} (${(v as { owner: string }).owner})`);
    }
    return out;
  };

  /** Which file the stack matches exactly, or a description of the mix. */
  const deployedFile = (s: KvState): string => {
    const mine = Object.values(s.services).filter((r) => r.stack === 'race');
    const got = Object.fromEntries(mine.map((r) => [r.name, [r.spec.replicas, r.endpoint.ports[0]?.published]]));
    for (const f of ['a', 'b'] as const) if (mine.length === Object.keys(EXPECTED[f]).length && JSON.stringify(got, Object.keys(got).sort()) === JSON.stringify(EXPECTED[f], Object.keys(EXPECTED[f]).sort())) return f;
    return `neither file: ${JSON.stringify(mine.map((r) => [r.name, r.id]))}`;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-race-'));
    await writeFile(join(dir, 'a.yml'), FILES.a);
    await writeFile(join(dir, 'b.yml'), FILES.b);
    c = await DevCluster.up({ nodes: 2, managers: 2 });
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('two deploys racing end as exactly one file, with no duplicate and no orphaned allocation', async () => {
    const outcomes: string[] = [];
    // Round 1 races on an empty stack (both would create every service), rounds 2-3 on an existing one.
    for (let round = 1; round <= 3; round++) {
      const [ra, rb] = await Promise.all(['a', 'b'].map((f) => c.meshctl(['stack', 'deploy', '-d', '-c', join(dir, `${f}.yml`), 'race'], { timeoutMs: 90_000 })));
      for (const r of [ra!, rb!]) {
        // Serialised behind the lock, both succeed; a deploy that waited past the lock's limit
        // fails with a conflict that says so. Nothing else is acceptable.
        if (r.code !== 0) expect(r.stderr).toMatch(/being changed by another deploy/);
      }
      expect(ra!.code === 0 || rb!.code === 0).toBe(true);
      const state = await readKv();
      const names = Object.values(state.services).filter((s) => s.stack === 'race').map((s) => s.name);
      expect(names.length).toBe(new Set(names).size);
      const file = deployedFile(state);
      expect(['a', 'b']).toContain(file);
      outcomes.push(`round ${round}: ${file} (exit codes ${ra!.code}/${rb!.code})`);
      // Once the scheduler has settled the stack's tasks, every allocation has a live owner.
      const settled = await waitFor('no orphaned allocation', async () => {
        const s = await readKv();
        return orphans(s).length === 0 ? s : undefined;
      }, slowdown(30_000), 500).catch(async () => readKv());
      expect(orphans(settled)).toEqual([]);
    }
    console.log(`concurrent deploys: ${outcomes.join('; ')}`);
    await c.ok(['stack', 'rm', 'race']);
    const empty = await waitFor('allocations gone after rm', async () => {
      const s = await readKv();
      return orphans(s).length === 0 && Object.values(s.services).every((r) => r.stack !== 'race') ? s : undefined;
    }, slowdown(30_000), 500).catch(async () => readKv());
    expect(orphans(empty)).toEqual([]);
  }, slowdown(420_000));
});
