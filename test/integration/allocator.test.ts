import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { openBuckets } from '../../core/state/buckets.js';
import { Allocator } from '../../manager/allocator.js';
import { ConflictError } from '../../core/errors.js';
import { parseCidr, overlaps } from '../../core/ipnet.js';

describe('allocator (real nats-server, two managers racing)', () => {
  let nats: TestNats;
  let a: Allocator;
  let b: Allocator;

  beforeAll(async () => {
    nats = await startTestNats();
    // Two separate connections stand for two managers.
    a = new Allocator((await openBuckets(await nats.connect(), { create: { replicas: 1 } })).alloc);
    b = new Allocator((await openBuckets(await nats.connect(), { create: { replicas: 1 } })).alloc);
  });
  afterAll(async () => nats?.stop());

  it('hands out distinct VNIs and fwmarks under concurrent allocation', async () => {
    const vnis = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).vni(`net${i}`)));
    expect(new Set(vnis).size).toBe(40);
    expect(Math.min(...vnis)).toBe(4097);
    const marks = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).fwmark(`svc${i}`)));
    expect(new Set(marks).size).toBe(40);
    expect(Math.min(...marks)).toBe(0x100);
  });

  it('hands out distinct addresses in one network and skips the gateway', async () => {
    const ips = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).ip('netx', '10.9.0.0/24', `t${i}`)));
    expect(new Set(ips).size).toBe(60);
    expect(ips).not.toContain('10.9.0.1');
    expect(ips).not.toContain('10.9.0.0');
  });

  it('hands out non-overlapping subnets, and refuses a requested subnet that overlaps', async () => {
    const subnets = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).subnet({ owner: `n${i}`, pool: '10.0.0.0/8', prefix: 24 })),
    );
    expect(new Set(subnets).size).toBe(20);
    for (const s of subnets) for (const t of subnets) if (s !== t) expect(overlaps(parseCidr(s), parseCidr(t))).toBe(false);
    const first = subnets.sort()[0]!;
    await expect(a.subnet({ owner: 'other', requested: first, pool: '10.0.0.0/8', prefix: 24 })).rejects.toThrow(ConflictError);
    await expect(a.subnet({ owner: 'wide', requested: '10.0.0.0/16', pool: '10.0.0.0/8', prefix: 24 })).rejects.toThrow(/overlaps/);
  });

  it('gives a published port to exactly one of two racing services', async () => {
    const results = await Promise.allSettled([a.port('tcp', 'svcA', 8080), b.port('tcp', 'svcB', 8080)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(await a.port('udp', 'svcA', 8080)).toBe(8080);
  });

  it('allocates serially, and reuses a released value once nothing unused is left', async () => {
    // 10.8.0.0/29: hosts .2-.6 after the gateway .1.
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await a.ip('small', '10.8.0.0/29', `t${i}`));
    expect(got).toEqual(['10.8.0.2', '10.8.0.3', '10.8.0.4', '10.8.0.5', '10.8.0.6']);
    await expect(b.ip('small', '10.8.0.0/29', 'extra')).rejects.toThrow(/no addresses in 10.8.0.0\/29 left/);
    await a.releaseIp('small', '10.8.0.4', 't2');
    expect(await b.ip('small', '10.8.0.0/29', 'again')).toBe('10.8.0.4');
    await b.releaseIp('small', '10.8.0.4', 'not-the-owner');
    expect(await a.ownerOf('ip.small.10_8_0_4')).toBe('again');
  });
});
