/**
 * The IPVS applier (worker/dataplane/ipvs-applier.ts, planning with lb/ipvs.ts) against a real
 * kernel's IPVS, in a network namespace of its own: no cluster, so it takes seconds in the VM
 * lane. It is what the lane's mutation check (test/vm/mutants.ts) must break. Every assertion
 * reads the kernel (`ipvsadm -Ln`, `iptables-save`), never the plan.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { IpvsApplier } from '../../worker/dataplane/ipvs-applier.js';
import type { LbBackend, LbDesired } from '../../lb/model.js';
import { parseIpvsadmList } from '../helpers/lb-state.js';
import { testLbBackend } from '../helpers/dev.js';

const NAME = `meshd-ipvs-applier-${process.pid}`;
const NETNS = `/run/netns/${NAME}`;
const VIP = '10.77.0.100';
const FWMARK = 256;
// Long enough that the sync right after the drain began falls inside it under TCG (a sync there
// spawns three tools: about 1-2 s).
const DRAIN_MS = 8_000;
const REALS = ['10.77.0.11', '10.77.0.12', '10.77.0.13'];

const desired = (backends: LbBackend[]): LbDesired => ({
  snatAddr: '10.77.0.2',
  services: [{ name: 'web', fwmark: FWMARK, match: { type: 'vip', vip: VIP }, backends }],
});
const active = (addrs: string[]): LbBackend[] => addrs.map((addr) => ({ addr, weight: 1 }));
const inNs = async (argv: string[]) => String((await execa('nsenter', [`--net=${NETNS}`, ...argv])).stdout);
/** The real servers of our fwmark service as the kernel lists them: `addr forward weight`. */
const kernelReals = async () => {
  const svc = parseIpvsadmList(await inNs(['ipvsadm', '-Ln'])).find((s) => s.fwmark === FWMARK);
  return svc && { scheduler: svc.scheduler, reals: svc.reals.map((r) => `${r.addr} ${r.forward} ${r.weight}`) };
};

describe('the IPVS applier on a real kernel (one namespace, no cluster)', () => {
  let applier: IpvsApplier;

  beforeAll(async () => {
    if (testLbBackend() !== 'ipvs') throw new Error('the VM lane runs with MESHD_TEST_LB_BACKEND=ipvs');
    await execa('ip', ['netns', 'add', NAME]);
    // IPVS takes a real server only at a unicast address (routed): the namespace gets the
    // backends' subnet on a link, as an lb_ namespace has on its overlay.
    for (const argv of [['link', 'set', 'lo', 'up'], ['link', 'add', 'lb0', 'type', 'veth', 'peer', 'name', 'lb1'], ['addr', 'add', '10.77.0.2/24', 'dev', 'lb0'], ['link', 'set', 'lb0', 'up'], ['link', 'set', 'lb1', 'up']]) {
      await execa('ip', ['-n', NAME, ...argv]);
    }
    applier = new IpvsApplier(DRAIN_MS);
  });
  afterAll(async () => {
    await execa('ip', ['netns', 'del', NAME], { reject: false });
  });

  it('programs one fwmark service: round robin, every replica masqueraded at weight 1, the VIP marked and SNATed', async () => {
    await applier.apply(NETNS, desired(active(REALS)));
    expect(await kernelReals()).toEqual({ scheduler: 'rr', reals: REALS.map((a) => `${a} Masq 1`) });
    const mangle = await inNs(['iptables-save', '-t', 'mangle']);
    expect(mangle).toMatch(new RegExp(`-d ${VIP.replace(/\./g, '\\.')}/32 .*-j MARK --set-xmark 0x${FWMARK.toString(16)}/0xffffffff`));
    const nat = await inNs(['iptables-save', '-t', 'nat']);
    expect(nat).toMatch(/-A MESHD-SNAT -m ipvs --ipvs -j SNAT --to-source 10\.77\.0\.2/);
    // Applying the same state again changes nothing (the planner's plan is empty).
    const before = await inNs(['ipvsadm', '-S', '-n']);
    await applier.apply(NETNS, desired(active(REALS)));
    expect(await inNs(['ipvsadm', '-S', '-n'])).toBe(before);
  });

  it('drains a leaving replica at weight 0 for the drain period, then deletes it', async () => {
    const staying = REALS.filter((a) => a !== REALS[1]);
    await applier.apply(NETNS, desired(active(staying)));
    expect(await kernelReals()).toEqual({ scheduler: 'rr', reals: [`${REALS[0]} Masq 1`, `${REALS[1]} Masq 0`, `${REALS[2]} Masq 1`] });
    // A sync inside the drain period keeps it at weight 0 (its connections carry on).
    await applier.apply(NETNS, desired(active(staying)));
    expect((await kernelReals())?.reals).toContain(`${REALS[1]} Masq 0`);
    await new Promise((r) => setTimeout(r, DRAIN_MS + 100));
    await applier.apply(NETNS, desired(active(staying)));
    expect(await kernelReals()).toEqual({ scheduler: 'rr', reals: staying.map((a) => `${a} Masq 1`) });
  });

  it('removes the whole service when no VIP is desired any more', async () => {
    await applier.apply(NETNS, { snatAddr: '10.77.0.2', services: [] });
    expect(await kernelReals()).toBeUndefined();
  });
});
