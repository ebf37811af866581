import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../core/exec.js';
import { ensureNetns, removeNetns } from '../../core/netns.js';
import { nftTable, renderNftables, renderNftablesUpdate, type LbDesired, type LbService } from '../../lb/index.js';
import { NftablesApplier } from '../../worker/dataplane/lb-applier.js';

type B = Array<[string, 0 | 1]>;
const list = (b: B) => b.map(([addr, weight]) => ({ addr, weight }));
const vip = (name: string, fwmark: number, addr: string, b: B): LbService => ({ name, fwmark, match: { type: 'vip', vip: addr }, backends: list(b) });
const port = (name: string, fwmark: number, protocol: 'tcp' | 'udp', p: number, b: B): LbService => ({ name, fwmark, match: { type: 'port', protocol, port: p }, backends: list(b) });

/** A deploy history: every step is applied as an update from the one before. */
const STEPS: LbDesired[] = [
  { snatAddr: '10.0.1.3', services: [] },
  {
    snatAddr: '10.0.1.3',
    services: [
      vip('a', 0x100, '10.0.1.2', [['10.0.1.5', 1]]),
      vip('b', 0x101, '10.0.1.7', [['10.0.1.8', 1], ['10.0.1.9', 1], ['10.0.1.10', 0]]),
      port('web', 0x102, 'tcp', 8080, [['10.0.1.20', 1], ['10.0.1.21', 1]]),
      vip('web', 0x102, '10.0.1.19', [['10.0.1.20', 1], ['10.0.1.21', 1]]),
      port('dns', 0x103, 'udp', 5353, []),
    ],
  },
  {
    snatAddr: '10.0.1.3',
    services: [
      vip('b', 0x101, '10.0.1.7', [['10.0.1.8', 1]]),
      port('web', 0x102, 'tcp', 8080, [['10.0.1.20', 0], ['10.0.1.21', 1], ['10.0.1.22', 1]]),
      port('dns', 0x103, 'udp', 5353, [['10.0.1.30', 1]]),
      vip('c', 0x104, '10.0.1.2', [['10.0.1.5', 1], ['10.0.1.6', 1]]),
      port('web2', 0x105, 'tcp', 9090, [['10.0.1.40', 1]]),
    ],
  },
  { snatAddr: '10.0.1.3', services: [] },
];

/**
 * `nft -j list table ip meshd` without kernel handles, in an order that does not depend on how
 * the table was built: chains, maps and sets by name (rules kept in chain order), set elements sorted.
 */
async function tableAsBuilt(netns: string): Promise<unknown> {
  const { stdout } = await run(['nft', '-j', 'list', 'table', 'ip', 'meshd'], { netns });
  const strip = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(strip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'handle').map(([k, x]) => [k, strip(x)])) : v;
  const objects: Record<string, unknown> = {};
  const rules: Record<string, unknown[]> = {};
  for (const item of (JSON.parse(stdout) as { nftables: Record<string, Record<string, unknown>>[] }).nftables) {
    const [kind, body] = Object.entries(item)[0]!;
    if (kind === 'metainfo') continue;
    const clean = strip(body) as Record<string, unknown>;
    if (kind === 'rule') (rules[String(clean.chain)] ??= []).push(clean.expr);
    else {
      if (Array.isArray(clean.elem)) clean.elem = clean.elem.map((e) => JSON.stringify(e)).sort();
      objects[`${kind} ${String(clean.name)}`] = clean;
    }
  }
  return { objects: Object.fromEntries(Object.entries(objects).sort()), rules: Object.fromEntries(Object.entries(rules).sort()) };
}

/** Updates on a real kernel (this machine's nftables) must build exactly what a full replace builds. */
describe('nftables updates on the real kernel', () => {
  let dir: string;
  let updated: string;
  let fresh: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-nft-'));
    updated = join(dir, 'updated');
    fresh = join(dir, 'fresh');
    await ensureNetns(updated);
    await ensureNetns(fresh);
  });
  afterAll(async () => {
    if (!dir) return;
    await removeNetns(updated);
    await removeNetns(fresh);
    await rm(dir, { recursive: true, force: true });
  });

  it('each step of a deploy history, applied as an update, leaves the table a full replace leaves', async () => {
    await run(['nft', '-f', '-'], { netns: updated, input: renderNftables(STEPS[0]!) });
    for (let i = 1; i < STEPS.length; i++) {
      const script = renderNftablesUpdate(nftTable(STEPS[i - 1]!), nftTable(STEPS[i]!));
      expect(script, `step ${i}`).toBeTruthy();
      await run(['nft', '-f', '-'], { netns: updated, input: script! });
      await run(['nft', '-f', '-'], { netns: fresh, input: renderNftables(STEPS[i]!) });
      expect(await tableAsBuilt(updated), `step ${i}`).toEqual(await tableAsBuilt(fresh));
    }
  });

  it('the applier writes only the difference, and replaces the table whole when someone changed it', async () => {
    const netns = join(dir, 'applier');
    await ensureNetns(netns);
    try {
      const applier = new NftablesApplier();
      await applier.apply(netns, STEPS[1]!);
      await applier.apply(netns, STEPS[2]!);
      await run(['nft', '-f', '-'], { netns: fresh, input: renderNftables(STEPS[2]!) });
      expect(await tableAsBuilt(netns)).toEqual(await tableAsBuilt(fresh));
      // Someone deletes the table: the next sync (nothing changed in the desired state) restores it.
      await run(['nft', 'delete', 'table', 'ip', 'meshd'], { netns });
      await applier.apply(netns, STEPS[2]!);
      expect(await tableAsBuilt(netns)).toEqual(await tableAsBuilt(fresh));
      // Someone deletes one service chain: the update touching it fails, and the table is replaced.
      await run(['nft', '-f', '-'], { netns, input: 'delete element ip meshd svc_chains { 0x104 }\nflush chain ip meshd svc_0x104\ndelete chain ip meshd svc_0x104\n' });
      await applier.apply(netns, STEPS[1]!);
      await run(['nft', '-f', '-'], { netns: fresh, input: renderNftables(STEPS[1]!) });
      expect(await tableAsBuilt(netns)).toEqual(await tableAsBuilt(fresh));
    } finally {
      await removeNetns(netns);
    }
  });
});
