import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KV } from 'nats';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { openBuckets, type Buckets } from '../../core/state/buckets.js';
import { readAll, readValues } from '../../core/state/read.js';
import { decodeAs } from '../../core/wire/decode.js';
import * as W from '../../core/wire/schemas.js';
import { RECORDS } from '../../core/wire/records.js';
import { createLogger } from '../../core/log.js';
import { Allocator } from '../../manager/allocator.js';
import { ensureCluster, type ClusterConfig } from '../../manager/cluster-config.js';
import { StackDeployer } from '../../manager/deploy/deployer.js';
import { stackLockKey } from '../../manager/deploy/stack-lock.js';

const log = createLogger({ level: 'error' });
const FILE = (svcs: string[]) => `services:\n${svcs.map((s) => `  ${s}: { command: ["sleep", "1"] }\n`).join('')}`;

/** The services bucket, except that the put number `failAt` (1-based) fails: a commit cut short. */
function failingServices(kv: KV, failAt: number): KV {
  let puts = 0;
  return new Proxy(kv, {
    get(target, prop, recv) {
      if (prop === 'put') {
        return async (...args: Parameters<KV['put']>) => {
          if (++puts === failAt) throw new Error('injected: NATS went away mid-commit');
          return target.put(...args);
        };
      }
      const v = Reflect.get(target, prop, recv) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('stack lock and commit journal (real nats-server)', () => {
  let nats: TestNats;
  let buckets: Buckets;
  let config: ClusterConfig;
  const deployer = (b: Buckets, nodeId: string) => new StackDeployer({ buckets: b, allocator: new Allocator(b.alloc), config, log, nodeId, lockTiming: { staleMs: 600, refreshMs: 200, waitMs: 5_000 } });
  const names = async () => (await readValues(buckets.services, RECORDS.services)).map((s) => s.name).sort();

  beforeAll(async () => {
    nats = await startTestNats();
    buckets = await openBuckets(await nats.connect(), { create: { replicas: 1 } });
    config = await ensureCluster(buckets, new Allocator(buckets.alloc), { subnetPool: '10.0.0.0/8', subnetPrefix: 24, ingressSubnet: '10.255.0.0/16', vxlanPort: 4789 });
  });
  afterAll(async () => nats?.stop());

  it('a commit cut short keeps its journal in the lock; the next deploy rolls it forward first, then applies its own file', async () => {
    const broken = deployer({ ...buckets, services: failingServices(buckets.services, 2) }, 'm1');
    await expect(broken.deploy({ stack: 'j', file: 'one.yml', text: FILE(['a', 'b', 'c']) })).rejects.toThrow(/committed but not fully applied/);
    // Half of it is in KV, and the lock holds the rest as a journal.
    expect(await names()).toEqual(['j_a']);
    const lock = await buckets.control.get(stackLockKey('j'));
    const held = decodeAs(W.StackLockRecord, lock!.value);
    expect(held.journal?.services.map((s) => s.record.name)).toEqual(['j_a', 'j_b', 'j_c']);
    // A second manager deploys another file: it waits for the lock to go stale, replays the
    // journal (so b and c exist with their allocations), then removes them per its own file.
    const res = await deployer(buckets, 'm2').deploy({ stack: 'j', file: 'two.yml', text: FILE(['a', 'd']) });
    expect(res.created).toEqual(['j_d']);
    expect(res.removed.sort()).toEqual(['j_b', 'j_c']);
    expect(await names()).toEqual(['j_a', 'j_d']);
    expect(await buckets.control.get(stackLockKey('j')).then((e) => e?.operation)).not.toBe('PUT');
    // No allocation is left to a service that is gone.
    const ids = new Set((await readValues(buckets.services, RECORDS.services)).map((s) => s.id));
    const owners = [...(await readAll(buckets.alloc, RECORDS.claim, { filter: 'fwmark.>' })).entries()].filter(([k]) => k.startsWith('fwmark.')).map(([, v]) => v.value.owner);
    expect(owners.filter((o) => !ids.has(o))).toEqual([]);
    expect(owners.length).toBe(2);
  });

  it("the leader's upkeep completes an interrupted commit of a stack nobody touches again", async () => {
    const broken = deployer({ ...buckets, services: failingServices(buckets.services, 3) }, 'm1');
    await expect(broken.deploy({ stack: 'k', file: 'k.yml', text: FILE(['a', 'b', 'c']) })).rejects.toThrow(/committed but not fully applied/);
    const stackNames = async () => (await names()).filter((n) => n.startsWith('k_'));
    expect(await stackNames()).toEqual(['k_a', 'k_b']);
    await deployer(buckets, 'leader').completeInterruptedCommits();
    expect(await stackNames()).toEqual(['k_a', 'k_b', 'k_c']);
    expect(await buckets.control.get(stackLockKey('k')).then((e) => e?.operation)).not.toBe('PUT');
  });

  it('two deploys of one stack at once run one after the other: exactly one file, no duplicates', async () => {
    const [x, y] = [deployer(buckets, 'm1'), deployer(buckets, 'm2')];
    const results = await Promise.allSettled([
      x.deploy({ stack: 'r', file: 'x.yml', text: FILE(['p', 'q', 's1', 's2', 's3']) }),
      y.deploy({ stack: 'r', file: 'y.yml', text: FILE(['p', 'z', 't1', 't2', 't3']) }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const got = (await readValues(buckets.services, RECORDS.services)).filter((s) => s.stack === 'r').map((s) => s.name).sort();
    expect([['r_p', 'r_q', 'r_s1', 'r_s2', 'r_s3'], ['r_p', 'r_t1', 'r_t2', 'r_t3', 'r_z']]).toContainEqual(got);
  });
});
