import { describe, expect, it } from 'vitest';
import { loadBalancerForwardPolicy, nodeForwardPolicy, renderForwardTable } from '../../worker/dataplane/forward-policy.js';
import { renderGatewayRules } from '../../worker/dataplane/gateway.js';

/** Golden tests: the whole rendered rule set, compared as text. */
describe('forward policy renderer', () => {
  it('node namespace, forwarding turned on by meshd: drop by default, only our paths open', () => {
    expect(renderGatewayRules({ subnet: '172.31.0.0/16', isolated: ['172.31.0.9', '172.31.0.3'], ownsForwarding: true })).toBe(
      [
        'add table ip meshd_gw',
        'delete table ip meshd_gw',
        'table ip meshd_gw {',
        '\tchain forward {',
        '\t\ttype filter hook forward priority filter; policy drop;',
        '\t\tiifname "meshgw0" oifname "meshgw0" drop',
        '\t\tiifname "meshgw0" ip saddr { 172.31.0.3, 172.31.0.9 } drop',
        '\t\tct state established,related accept',
        '\t\toifname "meshgw0" ct status dnat accept',
        '\t\tiifname "meshgw0" accept',
        '\t\tcounter drop',
        '\t}',
        '\tchain postrouting {',
        '\t\ttype nat hook postrouting priority srcnat; policy accept;',
        '\t\tip saddr 172.31.0.0/16 oifname != "meshgw0" masquerade',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('node namespace whose forwarding was on before meshd: the operator keeps the policy, our isolation drops stay', () => {
    expect(renderGatewayRules({ subnet: '172.31.0.0/16', ownsForwarding: false })).toBe(
      [
        'add table ip meshd_gw',
        'delete table ip meshd_gw',
        'table ip meshd_gw {',
        '\tchain forward {',
        '\t\ttype filter hook forward priority filter; policy accept;',
        '\t\tiifname "meshgw0" oifname "meshgw0" drop',
        '\t\tct state established,related accept',
        '\t\toifname "meshgw0" ct status dnat accept',
        '\t\tiifname "meshgw0" accept',
        '\t}',
        '\tchain postrouting {',
        '\t\ttype nat hook postrouting priority srcnat; policy accept;',
        '\t\tip saddr 172.31.0.0/16 oifname != "meshgw0" masquerade',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('lb_ and ingress_sbox: only connections our DNAT rewrote, and their replies', () => {
    expect(renderForwardTable(loadBalancerForwardPolicy())).toBe(
      [
        'add table ip meshd_fwd',
        'delete table ip meshd_fwd',
        'table ip meshd_fwd {',
        '\tchain forward {',
        '\t\ttype filter hook forward priority filter; policy drop;',
        '\t\tct state established,related accept',
        '\t\tct status dnat accept',
        '\t\tcounter drop',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('plans as data: isolation drops come before any accept', () => {
    const p = nodeForwardPolicy({ bridge: 'meshgw0', isolated: ['172.31.0.5'], ownsForwarding: true });
    expect(p.policy).toBe('drop');
    expect(p.rules.map((r) => r.type)).toEqual(['drop-bridged', 'drop-from', 'established', 'dnat', 'from']);
  });
});
