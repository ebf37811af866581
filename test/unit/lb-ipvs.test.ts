import { describe, expect, it } from 'vitest';
import {
  drainKey,
  EMPTY_IPVS,
  IpvsParseError,
  NO_JUMPS,
  formatIpvsadmSave,
  ipvsSysctls,
  parseIptablesJumps,
  parseIpvsadmSave,
  planIpvs,
  renderIptablesMarks,
  renderIptablesTeardown,
  type IpvsObserved,
} from '../../lb/ipvs.js';
import { lbDriver } from '../../lb/index.js';
import type { LbDesired, LbService } from '../../lb/model.js';

function vip(name: string, fwmark: number, addr: string, backends: Array<[string, 0 | 1]>): LbService {
  return { name, fwmark, match: { type: 'vip', vip: addr }, backends: backends.map(([a, weight]) => ({ addr: a, weight })) };
}

function port(name: string, fwmark: number, protocol: 'tcp' | 'udp', p: number, backends: Array<[string, 0 | 1]>): LbService {
  return { name, fwmark, match: { type: 'port', protocol, port: p }, backends: backends.map(([a, weight]) => ({ addr: a, weight })) };
}

const DESIRED: LbDesired = {
  snatAddr: '10.0.1.3',
  services: [
    vip('shop_web', 0x102, '10.0.1.12', [['10.0.1.13', 1], ['10.0.1.14', 0], ['10.0.1.28', 1]]),
    vip('shop_api', 0x100, '10.0.1.2', [['10.0.1.5', 1]]),
    port('shop_dns', 0x104, 'udp', 5353, [['10.0.1.40', 1]]),
    port('shop_front', 0x103, 'tcp', 8080, [['10.0.1.30', 1], ['10.0.1.31', 1]]),
    vip('shop_idle', 0x101, '10.0.1.7', []),
  ],
};

/** Applies `ipvsadm -R` lines to a model, failing where ipvsadm would (exists / not found). */
function applyIpvs(observed: IpvsObserved, lines: readonly string[]): IpvsObserved {
  const o: IpvsObserved = structuredClone(observed);
  for (const line of lines) {
    const [cmd, , markText] = line.split(' ');
    const fwmark = Number(markText);
    const svc = o.services.find((s) => s.fwmark === fwmark);
    if (cmd === '-A') {
      if (svc) throw new Error(`service exists: ${line}`);
      o.services.push(...parseIpvsadmSave(line).services);
      continue;
    }
    if (!svc) throw new Error(`no such service: ${line}`);
    if (cmd === '-D') o.services = o.services.filter((s) => s !== svc);
    if (cmd === '-E') Object.assign(svc, { scheduler: 'rr', extra: [] });
    if (cmd === '-D' || cmd === '-E') continue;
    const real = parseIpvsadmSave(`-A -f ${fwmark} -s rr\n-a ${line.slice(3)}`).services[0]?.reals[0];
    const idx = svc.reals.findIndex((r) => real && r.addr === real.addr && r.port === real.port);
    if (!real) throw new Error(`bad line: ${line}`);
    else if (cmd === '-a' && idx < 0) svc.reals.push(real);
    else if (cmd === '-e' && idx >= 0) svc.reals[idx] = real;
    else if (cmd === '-d' && idx >= 0) svc.reals.splice(idx, 1);
    else throw new Error(`ipvsadm would fail: ${line}`);
  }
  return o;
}

/** Plans and applies until the plan is empty; returns every plan on the way. */
function converge(desired: LbDesired, start: IpvsObserved): { plans: string[][]; observed: IpvsObserved } {
  const plans: string[][] = [];
  let observed = start;
  for (let i = 0; i < 5; i++) {
    const plan = planIpvs(desired, observed);
    if (plan.length === 0) return { plans, observed };
    plans.push(plan);
    observed = applyIpvs(observed, plan);
  }
  throw new Error(`no convergence: ${JSON.stringify(plans)}`);
}

const FRESH_PLAN = [
  '-A -f 256 -s rr',
  '-a -f 256 -r 10.0.1.5:0 -m -w 1',
  '-A -f 257 -s rr',
  '-A -f 258 -s rr',
  '-a -f 258 -r 10.0.1.13:0 -m -w 1',
  '-a -f 258 -r 10.0.1.28:0 -m -w 1',
  '-A -f 259 -s rr',
  '-a -f 259 -r 10.0.1.30:0 -m -w 1',
  '-a -f 259 -r 10.0.1.31:0 -m -w 1',
  '-A -f 260 -s rr',
  '-a -f 260 -r 10.0.1.40:0 -m -w 1',
];

describe('planIpvs', () => {
  it('adds everything on a fresh namespace (a draining backend IPVS does not have is not added)', () => {
    expect(planIpvs(DESIRED, EMPTY_IPVS)).toEqual(FRESH_PLAN);
  });

  it('is idempotent: once applied, the plan is empty', () => {
    const { plans, observed } = converge(DESIRED, EMPTY_IPVS);
    expect(plans).toEqual([FRESH_PLAN]);
    expect(planIpvs(DESIRED, observed)).toEqual([]);
    expect(planIpvs(DESIRED, parseIpvsadmSave(formatIpvsadmSave(observed)))).toEqual([]);
  });

  it('drains a replica that leaves: weight 0 first, delete once observed at weight 0', () => {
    const before = applyIpvs(EMPTY_IPVS, FRESH_PLAN);
    const without28 = { ...DESIRED, services: DESIRED.services.map((s) => (s.fwmark === 0x102 ? vip(s.name, 0x102, '10.0.1.12', [['10.0.1.13', 1]]) : s)) };
    const { plans } = converge(without28, before);
    expect(plans).toEqual([['-e -f 258 -r 10.0.1.28:0 -m -w 0'], ['-d -f 258 -r 10.0.1.28:0']]);
  });

  it('keeps a leaving replica at weight 0 while it is listed as draining, then deletes it', () => {
    const before = applyIpvs(EMPTY_IPVS, FRESH_PLAN);
    const without28 = { ...DESIRED, services: DESIRED.services.map((s) => (s.fwmark === 0x102 ? vip(s.name, 0x102, '10.0.1.12', [['10.0.1.13', 1]]) : s)) };
    const drained = applyIpvs(before, planIpvs(without28, before, new Set([drainKey(258, '10.0.1.28')])));
    expect(drained.services.find((s) => s.fwmark === 258)?.reals.map((r) => `${r.addr}=${r.weight}`)).toEqual(['10.0.1.13=1', '10.0.1.28=0']);
    expect(planIpvs(without28, drained, new Set([drainKey(258, '10.0.1.28')]))).toEqual([]);
    expect(planIpvs(without28, drained, new Set([drainKey(258, '10.0.1.99')]))).toEqual(['-d -f 258 -r 10.0.1.28:0']);
  });

  it('keeps a desired weight-0 backend at weight 0 (the caller owns the drain period)', () => {
    const before = applyIpvs(EMPTY_IPVS, FRESH_PLAN);
    const draining = { ...DESIRED, services: DESIRED.services.map((s) => (s.fwmark === 0x100 ? vip(s.name, 0x100, '10.0.1.2', [['10.0.1.5', 0]]) : s)) };
    const { plans, observed } = converge(draining, before);
    expect(plans).toEqual([['-e -f 256 -r 10.0.1.5:0 -m -w 0']]);
    expect(observed.services.find((s) => s.fwmark === 256)?.reals).toEqual([{ addr: '10.0.1.5', port: 0, forward: 'masq', weight: 0, extra: [] }]);
    const back = { ...DESIRED, services: [...DESIRED.services] };
    expect(planIpvs(back, observed)).toEqual(['-e -f 256 -r 10.0.1.5:0 -m -w 1']);
  });

  it('removes services no longer desired', () => {
    const before = applyIpvs(EMPTY_IPVS, FRESH_PLAN);
    const fewer = { ...DESIRED, services: DESIRED.services.filter((s) => s.fwmark !== 0x102 && s.fwmark !== 0x104) };
    expect(converge(fewer, before).plans).toEqual([['-D -f 258', '-D -f 260']]);
    expect(converge({ snatAddr: '10.0.1.3', services: [] }, before).plans).toEqual([['-D -f 256', '-D -f 257', '-D -f 258', '-D -f 259', '-D -f 260']]);
  });

  it('corrects what someone else changed, and never touches address-based services', () => {
    const observed = parseIpvsadmSave(
      [
        '-A -t 10.9.9.9:80 -s wlc',
        '-a -t 10.9.9.9:80 -r 10.9.9.10:80 -m -w 1',
        '-A -f 256 -s wlc -p 360',
        '-a -f 256 -r 10.0.1.5:0 -g -w 3 -x 10 -y 5',
        '-a -f 256 -r 10.0.1.6:8080 -g -w 1',
      ].join('\n'),
    );
    const only256 = { snatAddr: '10.0.1.3', services: [vip('api', 0x100, '10.0.1.2', [['10.0.1.5', 1]])] };
    expect(planIpvs(only256, observed)).toEqual([
      '-E -f 256 -s rr',
      '-e -f 256 -r 10.0.1.5:0 -m -w 1',
      '-e -f 256 -r 10.0.1.6:8080 -g -w 0',
    ]);
    expect(converge(only256, observed).observed.other).toEqual(observed.other);
  });

  it('an empty desired state on an empty namespace plans nothing', () => {
    expect(planIpvs({ snatAddr: '10.0.1.3', services: [] }, EMPTY_IPVS)).toEqual([]);
  });

  it('entries sharing a fwmark are one IPVS service', () => {
    const b: Array<[string, 0 | 1]> = [['10.255.0.12', 1]];
    const d = { snatAddr: '10.255.0.2', services: [port('web', 0x105, 'tcp', 80, b), port('web', 0x105, 'tcp', 443, b), vip('web', 0x105, '10.255.0.11', b)] };
    expect(planIpvs(d, EMPTY_IPVS)).toEqual(['-A -f 261 -s rr', '-a -f 261 -r 10.255.0.12:0 -m -w 1']);
  });
});

describe('parseIpvsadmSave', () => {
  const SAVE = `-A -f 256 -s rr
-a -f 256 -r 10.0.1.13:0 -m -w 1
-a -f 256 -r 10.0.1.14:0 -m -w 0
-A -f 260 -s wrr -p 360 -M 255.255.255.0
-a -f 260 -r 10.0.1.28:0 -g -w 2 -x 10 -y 5
-A -f 261 -s rr
-A -u 10.0.0.1:53 -s rr
-a -u 10.0.0.1:53 -r 10.0.0.2:53 -m -w 1
`;

  it('reads fwmark services, real servers and what it does not program', () => {
    expect(parseIpvsadmSave(SAVE)).toEqual({
      services: [
        {
          fwmark: 256,
          scheduler: 'rr',
          extra: [],
          reals: [
            { addr: '10.0.1.13', port: 0, forward: 'masq', weight: 1, extra: [] },
            { addr: '10.0.1.14', port: 0, forward: 'masq', weight: 0, extra: [] },
          ],
        },
        { fwmark: 260, scheduler: 'wrr', extra: ['-p', '360', '-M', '255.255.255.0'], reals: [{ addr: '10.0.1.28', port: 0, forward: 'gate', weight: 2, extra: ['-x', '10', '-y', '5'] }] },
        { fwmark: 261, scheduler: 'rr', extra: [], reals: [] },
      ],
      other: ['-A -u 10.0.0.1:53 -s rr', '-a -u 10.0.0.1:53 -r 10.0.0.2:53 -m -w 1'],
    } satisfies IpvsObserved);
  });

  it('round-trips: format(parse(text)) === text', () => {
    expect(formatIpvsadmSave(parseIpvsadmSave(SAVE))).toBe(SAVE);
    expect(formatIpvsadmSave(EMPTY_IPVS)).toBe('');
    expect(parseIpvsadmSave('')).toEqual(EMPTY_IPVS);
  });

  it('reads what Swarm 20.10 programs in lb_appnet (as ipvsadm -S -n prints it)', () => {
    const swarm = '-A -f 260 -s rr\n-a -f 260 -r 10.0.1.13:0 -m -w 1\n-a -f 260 -r 10.0.1.14:0 -m -w 1\n-a -f 260 -r 10.0.1.28:0 -m -w 1\n';
    const d = { snatAddr: '10.0.1.3', services: [vip('web', 260, '10.0.1.12', [['10.0.1.13', 1], ['10.0.1.14', 1], ['10.0.1.28', 1]])] };
    expect(planIpvs(d, parseIpvsadmSave(swarm))).toEqual([]);
  });

  it('fails clearly on lines it cannot read', () => {
    expect(() => parseIpvsadmSave('-a -f 256 -r 10.0.1.13:0 -m -w 1')).toThrow(/line 1: real server before its service -f 256/);
    expect(() => parseIpvsadmSave('-A -f 256 -s rr\n-a -f 256 -r web.1:0 -m -w 1')).toThrow(IpvsParseError);
    expect(() => parseIpvsadmSave('IP Virtual Server version 1.2.1')).toThrow(/expected -A or -a/);
  });
});

describe('renderIptablesMarks', () => {
  const FRESH = `*mangle
:MESHD-MARK - [0:0]
-A PREROUTING -j MESHD-MARK
-A MESHD-MARK -d 10.0.1.2/32 -j MARK --set-xmark 0x100/0xffffffff
-A MESHD-MARK -d 10.0.1.7/32 -j MARK --set-xmark 0x101/0xffffffff
-A MESHD-MARK -d 10.0.1.12/32 -j MARK --set-xmark 0x102/0xffffffff
-A MESHD-MARK -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x103/0xffffffff
-A MESHD-MARK -p udp -m udp --dport 5353 -j MARK --set-xmark 0x104/0xffffffff
COMMIT
*nat
:MESHD-SNAT - [0:0]
-A POSTROUTING -j MESHD-SNAT
-A MESHD-SNAT -m ipvs --ipvs -j SNAT --to-source 10.0.1.3
COMMIT
`;

  it('renders our chains and both jumps for a namespace without them', () => {
    expect(renderIptablesMarks(DESIRED, NO_JUMPS)).toBe(FRESH);
    expect(renderIptablesMarks(DESIRED)).toBe(FRESH);
  });

  it('leaves the jumps alone when each is present once', () => {
    const withJumps = FRESH.replace('-A PREROUTING -j MESHD-MARK\n', '').replace('-A POSTROUTING -j MESHD-SNAT\n', '');
    expect(renderIptablesMarks(DESIRED, { mark: 1, snat: 1 })).toBe(withJumps);
  });

  it('deletes extra copies of a jump so it is present exactly once', () => {
    const text = renderIptablesMarks({ snatAddr: '10.0.1.3', services: [] }, { mark: 3, snat: 0 });
    expect(text).toBe(`*mangle
:MESHD-MARK - [0:0]
-D PREROUTING -j MESHD-MARK
-D PREROUTING -j MESHD-MARK
COMMIT
*nat
:MESHD-SNAT - [0:0]
-A POSTROUTING -j MESHD-SNAT
-A MESHD-SNAT -m ipvs --ipvs -j SNAT --to-source 10.0.1.3
COMMIT
`);
  });

  it('counts our jumps in iptables-save output, and nothing else', () => {
    const save = `# Generated by iptables-save v1.8.9 (nf_tables)
*mangle
:PREROUTING ACCEPT [0:0]
:MESHD-MARK - [0:0]
-A PREROUTING -j MESHD-MARK
-A INPUT -d 10.0.1.12/32 -j MARK --set-xmark 0x104/0xffffffff
-A MESHD-MARK -d 10.0.1.2/32 -j MARK --set-xmark 0x100/0xffffffff
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
:MESHD-SNAT - [0:0]
-A POSTROUTING -d 127.0.0.11/32 -j DOCKER_POSTROUTING
-A POSTROUTING -j MESHD-SNAT
-A POSTROUTING -j MESHD-SNAT
-A PREROUTING -j MESHD-MARK
COMMIT
`;
    expect(parseIptablesJumps(save)).toEqual({ mark: 1, snat: 2, rules: ['-A MESHD-MARK -d 10.0.1.2/32 -j MARK --set-xmark 0x100/0xffffffff'] });
    expect(parseIptablesJumps('')).toEqual({ ...NO_JUMPS, rules: [] });
  });

  it('writes nothing when each jump is there once and our chains hold exactly the rules, in order', () => {
    const saved = FRESH.replace(':MESHD-MARK - [0:0]', ':PREROUTING ACCEPT [0:0]\n:MESHD-MARK - [0:0]');
    const observed = parseIptablesJumps(saved);
    expect(observed.mark).toBe(1);
    expect(renderIptablesMarks(DESIRED, observed)).toBe('');
    // Without the chains' contents (not read) it always writes them.
    expect(renderIptablesMarks(DESIRED, { mark: 1, snat: 1 })).not.toBe('');
  });

  it('rewrites our chains when a rule is missing, extra, changed or out of order', () => {
    const rules = parseIptablesJumps(FRESH).rules!;
    const withJumps = FRESH.replace('-A PREROUTING -j MESHD-MARK\n', '').replace('-A POSTROUTING -j MESHD-SNAT\n', '');
    const variants = [
      rules.slice(1),
      [...rules, '-A MESHD-MARK -d 10.0.1.99/32 -j MARK --set-xmark 0x1ff/0xffffffff'],
      rules.map((r) => r.replace('--to-source 10.0.1.3', '--to-source 10.0.1.4')),
      [rules[1]!, rules[0]!, ...rules.slice(2)],
    ];
    for (const v of variants) expect(renderIptablesMarks(DESIRED, { mark: 1, snat: 1, rules: v })).toBe(withJumps);
    // A jump missing or doubled: written again too.
    expect(renderIptablesMarks(DESIRED, { mark: 2, snat: 1, rules })).toContain('-D PREROUTING -j MESHD-MARK');
  });

  it('tears down only our chains', () => {
    expect(renderIptablesTeardown({ mark: 1, snat: 0 })).toBe(`*mangle
:MESHD-MARK - [0:0]
-D PREROUTING -j MESHD-MARK
-X MESHD-MARK
COMMIT
*nat
:MESHD-SNAT - [0:0]
-X MESHD-SNAT
COMMIT
`);
  });
});

describe('sysctls and the ipvs driver', () => {
  it('sets what Swarm sets, plus forwarding and conntrack for the SNAT', () => {
    expect(ipvsSysctls()).toEqual({
      'net.ipv4.ip_forward': '1',
      'net.ipv4.vs.conntrack': '1',
      'net.ipv4.vs.conn_reuse_mode': '0',
      'net.ipv4.vs.expire_nodest_conn': '1',
      'net.ipv4.vs.expire_quiescent_template': '1',
    });
  });

  it('plans the iptables restore, the ipvsadm restore and the sysctls as data', () => {
    const plan = lbDriver('ipvs').plan(DESIRED, { type: 'ipvs', ipvs: EMPTY_IPVS, jumps: NO_JUMPS });
    expect(plan).toEqual({ type: 'ipvs', iptablesRestore: renderIptablesMarks(DESIRED), ipvsRestore: FRESH_PLAN, sysctls: ipvsSysctls() });
  });
});
