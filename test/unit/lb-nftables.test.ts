import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LbModelError, type LbDesired, type LbService } from '../../lb/model.js';
import { NFT_CHAINS, nftChainsFor, nftServiceChain } from '../../lb/names.js';
import { nftTable, renderNftables, renderNftablesTeardown, renderNftablesUpdate } from '../../lb/nftables.js';
import { lbDriver } from '../../lb/index.js';

type B = Array<[string, 0 | 1]>;
const list = (b: B) => b.map(([addr, weight]) => ({ addr, weight }));
const vip = (name: string, fwmark: number, addr: string, b: B): LbService => ({ name, fwmark, match: { type: 'vip', vip: addr }, backends: list(b) });
const port = (name: string, fwmark: number, protocol: 'tcp' | 'udp', p: number, b: B): LbService => ({ name, fwmark, match: { type: 'port', protocol, port: p }, backends: list(b) });

/** Three VIP services with 1..3 backends (one draining) and a VIP service with none. */
const VIPS: LbDesired = {
  snatAddr: '10.0.1.3',
  services: [
    vip('shop_web', 0x102, '10.0.1.12', [['10.0.1.13', 1], ['10.0.1.14', 0], ['10.0.1.28', 1]]),
    vip('shop_api', 0x100, '10.0.1.2', [['10.0.1.5', 1]]),
    vip('shop_cache', 0x101, '10.0.1.7', [['10.0.1.8', 1], ['10.0.1.9', 1], ['10.0.1.10', 1]]),
    vip('shop_idle', 0x103, '10.0.1.30', []),
  ],
};

const VIPS_NFT = `add table ip meshd
delete table ip meshd
table ip meshd {
	map vip_marks {
		type ipv4_addr : mark
		elements = {
			10.0.1.2 : 0x100,
			10.0.1.7 : 0x101,
			10.0.1.12 : 0x102,
			10.0.1.30 : 0x103
		}
	}
	map port_marks {
		type inet_proto . inet_service : mark
	}
	map svc_chains {
		type mark : verdict
		elements = {
			0x100 : jump svc_0x100,
			0x101 : jump svc_0x101,
			0x102 : jump svc_0x102,
			0x103 : jump svc_0x103
		}
	}
	set svc_marks {
		type mark
		elements = {
			0x100,
			0x101,
			0x102,
			0x103
		}
	}
	chain mark_prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta mark set ip daddr map @vip_marks
		meta mark set meta l4proto . th dport map @port_marks
	}
	chain dnat_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta mark vmap @svc_chains
	}
	chain svc_0x100 {
		comment "shop_api"
		dnat to 10.0.1.5
	}
	chain svc_0x101 {
		comment "shop_cache"
		dnat to numgen random mod 3 map { 0 : 10.0.1.8, 1 : 10.0.1.9, 2 : 10.0.1.10 }
	}
	chain svc_0x102 {
		comment "shop_web"
		dnat to numgen random mod 2 map { 0 : 10.0.1.13, 1 : 10.0.1.28 }
	}
	chain svc_0x103 {
		comment "shop_idle"
		meta l4proto tcp reject with tcp reset
		reject
	}
	chain snat_postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ct status dnat meta mark @svc_marks snat to 10.0.1.3
	}
}
`;

/** The ingress sandbox: published ports (tcp and udp), one of them with only draining backends. */
const INGRESS: LbDesired = {
  snatAddr: '10.255.0.2',
  services: [
    port('shop_web', 0x105, 'tcp', 8080, [['10.255.0.12', 1], ['10.255.0.13', 1]]),
    port('shop_dns', 0x106, 'udp', 5353, [['10.255.0.20', 1]]),
    port('shop_old', 0x107, 'tcp', 9090, [['10.255.0.30', 0]]),
    vip('shop_web', 0x108, '10.255.0.11', [['10.255.0.12', 1], ['10.255.0.13', 1]]),
  ],
};

const INGRESS_NFT = `add table ip meshd
delete table ip meshd
table ip meshd {
	map vip_marks {
		type ipv4_addr : mark
		elements = {
			10.255.0.11 : 0x108
		}
	}
	map port_marks {
		type inet_proto . inet_service : mark
		elements = {
			tcp . 8080 : 0x105,
			udp . 5353 : 0x106,
			tcp . 9090 : 0x107
		}
	}
	map svc_chains {
		type mark : verdict
		elements = {
			0x105 : jump svc_0x105,
			0x106 : jump svc_0x106,
			0x107 : jump svc_0x107,
			0x108 : jump svc_0x108
		}
	}
	set svc_marks {
		type mark
		elements = {
			0x105,
			0x106,
			0x107,
			0x108
		}
	}
	chain mark_prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta mark set ip daddr map @vip_marks
		meta mark set meta l4proto . th dport map @port_marks
	}
	chain dnat_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta mark vmap @svc_chains
	}
	chain svc_0x105 {
		comment "shop_web"
		dnat to numgen random mod 2 map { 0 : 10.255.0.12, 1 : 10.255.0.13 }
	}
	chain svc_0x106 {
		comment "shop_dns"
		dnat to 10.255.0.20
	}
	chain svc_0x107 {
		comment "shop_old"
		meta l4proto tcp reject with tcp reset
		reject
	}
	chain svc_0x108 {
		comment "shop_web"
		dnat to numgen random mod 2 map { 0 : 10.255.0.12, 1 : 10.255.0.13 }
	}
	chain snat_postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ct status dnat meta mark @svc_marks snat to 10.255.0.2
	}
}
`;

const EMPTY_NFT = `add table ip meshd
delete table ip meshd
table ip meshd {
	map vip_marks {
		type ipv4_addr : mark
	}
	map port_marks {
		type inet_proto . inet_service : mark
	}
	map svc_chains {
		type mark : verdict
	}
	set svc_marks {
		type mark
	}
	chain mark_prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta mark set ip daddr map @vip_marks
		meta mark set meta l4proto . th dport map @port_marks
	}
	chain dnat_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta mark vmap @svc_chains
	}
	chain snat_postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ct status dnat meta mark @svc_marks snat to 10.0.9.3
	}
}
`;

describe('renderNftables', () => {
  it('renders VIP services with 1..3 backends, a draining backend and a service without backends', () => {
    expect(renderNftables(VIPS)).toBe(VIPS_NFT);
  });

  it('renders published ports (tcp and udp) keeping the destination port, and a VIP beside them', () => {
    expect(renderNftables(INGRESS)).toBe(INGRESS_NFT);
  });

  it('renders the same skeleton with empty maps for an empty desired state', () => {
    expect(renderNftables({ snatAddr: '10.0.9.3', services: [] })).toBe(EMPTY_NFT);
  });

  it('is deterministic: service order does not matter, backend order is kept as given', () => {
    const shuffled = { ...VIPS, services: [...VIPS.services].reverse() };
    expect(renderNftables(shuffled)).toBe(VIPS_NFT);
    const swapped = { snatAddr: '10.0.1.3', services: [vip('a', 0x100, '10.0.1.2', [['10.0.1.6', 1], ['10.0.1.5', 1]])] };
    expect(renderNftables(swapped)).toContain('dnat to numgen random mod 2 map { 0 : 10.0.1.6, 1 : 10.0.1.5 }');
  });

  it('excludes draining backends from the numgen map (conntrack keeps their established flows)', () => {
    const all0 = { snatAddr: '10.0.1.3', services: [vip('a', 0x100, '10.0.1.2', [['10.0.1.5', 0], ['10.0.1.6', 0]])] };
    expect(renderNftables(all0)).toContain('\t\tcomment "a"\n\t\tmeta l4proto tcp reject with tcp reset\n\t\treject\n');
    expect(renderNftables(all0)).not.toMatch(/10\.0\.1\.[56]/);
  });

  it('keeps service names from breaking the script', () => {
    const d = { snatAddr: '10.0.1.3', services: [vip('x" ; flush ruleset ; "', 0x100, '10.0.1.2', [])] };
    expect(renderNftables(d)).toContain('\t\tcomment "x____flush_ruleset____"\n');
  });

  it('rejects invalid desired states before rendering anything', () => {
    const bad = (d: LbDesired) => () => renderNftables(d);
    expect(bad({ snatAddr: '10.0.1', services: [] })).toThrow(LbModelError);
    const shared = (b: B) => ({ snatAddr: '10.0.1.3', services: [vip('a', 0x100, '10.0.1.2', [['10.0.1.5', 1]]), vip('b', 0x100, '10.0.1.4', b)] });
    expect(bad(shared([['10.0.1.6', 1]]))).toThrow(/share fwmark 0x100 with different backends/);
    expect(bad(shared([['10.0.1.5', 0]]))).toThrow(/share fwmark 0x100 with different backends/);
    expect(bad(shared([['10.0.1.5', 1]]))).not.toThrow();
    expect(bad({ snatAddr: '10.0.1.3', services: [vip('a', 0x100, '10.0.1.2', []), vip('b', 0x101, '10.0.1.2', [])] })).toThrow(/share vip 10.0.1.2/);
    expect(bad({ snatAddr: '10.0.1.3', services: [port('a', 0x100, 'tcp', 80, []), port('b', 0x101, 'tcp', 80, [])] })).toThrow(/share tcp port 80/);
    expect(bad({ snatAddr: '10.0.1.3', services: [port('a', 0x100, 'tcp', 0, [])] })).toThrow(/port 0/);
    expect(bad({ snatAddr: '10.0.1.3', services: [vip('a', 0, '10.0.1.2', [])] })).toThrow(/fwmark 0/);
    expect(bad({ snatAddr: '10.0.1.3', services: [vip('a', 0x100, '10.0.1.2', [['10.0.1.5', 1], ['10.0.1.5', 0]])] })).toThrow(/listed twice/);
    expect(bad({ snatAddr: '10.0.1.3', services: [vip('a', 0x100, '10.0.1.2', [['10.0.1.256', 1]])] })).toThrow(/not an IPv4/);
  });
});

describe('entries sharing a fwmark (one service, several matches)', () => {
  it('renders one service chain for a VIP and two published ports with the same mark', () => {
    const backends: B = [['10.255.0.12', 1], ['10.255.0.13', 1]];
    const d: LbDesired = {
      snatAddr: '10.255.0.2',
      services: [port('web', 0x105, 'tcp', 443, backends), vip('web', 0x105, '10.255.0.11', backends), port('web', 0x105, 'tcp', 80, backends)],
    };
    const text = renderNftables(d);
    expect(text).toContain('\t\telements = {\n\t\t\ttcp . 80 : 0x105,\n\t\t\ttcp . 443 : 0x105\n\t\t}\n');
    expect(text).toContain('\t\telements = {\n\t\t\t10.255.0.11 : 0x105\n\t\t}\n');
    expect(text).toContain('\t\telements = {\n\t\t\t0x105 : jump svc_0x105\n\t\t}\n');
    expect(text.match(/chain svc_/g)).toHaveLength(1);
  });
});

describe('names and teardown', () => {
  it('names one chain per service after its mark, base chains in packet order', () => {
    expect(nftServiceChain(0x100)).toBe('svc_0x100');
    expect(nftChainsFor([0x102, 0x100])).toEqual([NFT_CHAINS.mark, NFT_CHAINS.dnat, 'svc_0x100', 'svc_0x102', NFT_CHAINS.snat]);
  });

  it('tears down only our table', () => {
    expect(renderNftablesTeardown()).toBe('add table ip meshd\ndelete table ip meshd\n');
  });

  it('the nftables driver replaces the whole table when it knows no table it wrote', () => {
    expect(lbDriver('nftables').plan(VIPS, { type: 'nftables' })).toEqual({
      type: 'nftables',
      script: VIPS_NFT,
      full: true,
      table: nftTable(VIPS),
      sysctls: { 'net.ipv4.ip_forward': '1' },
    });
  });
});

/** VIPS after a deploy: shop_api gone, shop_new added on its VIP with a new mark, shop_web down to one active backend, shop_idle got one. */
const VIPS_NEXT: LbDesired = {
  snatAddr: '10.0.1.3',
  services: [
    vip('shop_web', 0x102, '10.0.1.12', [['10.0.1.13', 0], ['10.0.1.28', 1]]),
    vip('shop_cache', 0x101, '10.0.1.7', [['10.0.1.8', 1], ['10.0.1.9', 1], ['10.0.1.10', 1]]),
    vip('shop_idle', 0x103, '10.0.1.30', [['10.0.1.31', 1]]),
    vip('shop_new', 0x104, '10.0.1.2', [['10.0.1.40', 1], ['10.0.1.41', 1]]),
    port('shop_front', 0x105, 'tcp', 8080, [['10.0.1.50', 1]]),
  ],
};

describe('renderNftablesUpdate (the difference from the table last written)', () => {
  it('deletes changed and removed elements, replaces chains, then adds elements, in one batch', () => {
    expect(renderNftablesUpdate(nftTable(VIPS), nftTable(VIPS_NEXT))).toBe(`delete element ip meshd vip_marks { 10.0.1.2 }
delete element ip meshd svc_chains { 0x100 }
delete element ip meshd svc_marks { 0x100 }
flush chain ip meshd svc_0x100
delete chain ip meshd svc_0x100
flush chain ip meshd svc_0x102
add rule ip meshd svc_0x102 dnat to 10.0.1.28
flush chain ip meshd svc_0x103
add rule ip meshd svc_0x103 dnat to 10.0.1.31
add chain ip meshd svc_0x104 { comment "shop_new"; }
add rule ip meshd svc_0x104 dnat to numgen random mod 2 map { 0 : 10.0.1.40, 1 : 10.0.1.41 }
add chain ip meshd svc_0x105 { comment "shop_front"; }
add rule ip meshd svc_0x105 dnat to 10.0.1.50
add element ip meshd vip_marks { 10.0.1.2 : 0x104 }
add element ip meshd port_marks { tcp . 8080 : 0x105 }
add element ip meshd svc_chains { 0x104 : jump svc_0x104, 0x105 : jump svc_0x105 }
add element ip meshd svc_marks { 0x104, 0x105 }
`);
  });

  it('is empty when nothing changed, whatever the order of the desired services', () => {
    expect(renderNftablesUpdate(nftTable(VIPS), nftTable({ ...VIPS, services: [...VIPS.services].reverse() }))).toBe('');
  });

  it('empties the table down to its skeleton and builds it back up', () => {
    const empty = nftTable({ snatAddr: '10.0.1.3', services: [] });
    const down = renderNftablesUpdate(nftTable(VIPS), empty)!;
    expect(down.split('\n').filter((l) => l.startsWith('delete chain'))).toHaveLength(4);
    expect(down).not.toMatch(/^add /m);
    const up = renderNftablesUpdate(empty, nftTable(VIPS))!;
    expect(up.split('\n').filter((l) => l.startsWith('add chain'))).toHaveLength(4);
    expect(up).not.toMatch(/^(delete|flush) /m);
  });

  it('asks for a full replace when the SNAT address or a chain comment changes', () => {
    expect(renderNftablesUpdate(nftTable(VIPS), nftTable({ ...VIPS, snatAddr: '10.0.1.4' }))).toBeUndefined();
    const renamed = { ...VIPS, services: VIPS.services.map((s) => (s.fwmark === 0x100 ? { ...s, name: 'shop_api2' } : s)) };
    expect(renderNftablesUpdate(nftTable(VIPS), nftTable(renamed))).toBeUndefined();
    expect(lbDriver('nftables').plan(renamed, { type: 'nftables', written: nftTable(VIPS) }).full).toBe(true);
  });

  it('the driver plans an update from the table it wrote', () => {
    const plan = lbDriver('nftables').plan(VIPS_NEXT, { type: 'nftables', written: nftTable(VIPS) });
    expect(plan.full).toBe(false);
    expect(plan.script).toBe(renderNftablesUpdate(nftTable(VIPS), nftTable(VIPS_NEXT)));
    expect(plan.table).toEqual(nftTable(VIPS_NEXT));
  });
});

describe('the real nft accepts the rendered scripts', () => {
  // `nft -c` is a dry run: it parses and checks the batch and changes nothing.
  it('nft -c -f accepts every rendered script', (ctx) => {
    if (spawnSync('nft', ['--version']).error) ctx.skip('nft is not installed (apt-get install -y nftables): syntax not checked by the real tool');
    for (const [i, text] of [VIPS_NFT, INGRESS_NFT, EMPTY_NFT, renderNftablesTeardown()].entries()) {
      const r = spawnSync('nft', ['-c', '-f', '-'], { input: text, encoding: 'utf8' });
      if (/Operation not permitted/i.test(r.stderr)) ctx.skip('nft -c needs CAP_NET_ADMIN: syntax not checked by the real tool');
      expect(r.status, `nft -c -f rejected script ${i}:\n${r.stderr}\n${text}`).toBe(0);
    }
  });
});
