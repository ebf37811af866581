/**
 * Golden tests for the node's published-port table (`meshd_publish`): the whole rendered rule set
 * is compared, and nft itself accepts it (checked with `nft -c` in a private network namespace
 * that exists only for that command).
 */
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { renderPublishRules } from '../../worker/dataplane/ingress.js';
import type { PublishRule } from '../../worker/dataplane/ingress-desired.js';

const nftAccepts = async (script: string) => (await execa('unshare', ['--net', 'nft', '-c', '-f', '-'], { input: script, reject: false })).stderr;

const HEAD = ['add table ip meshd_publish', 'delete table ip meshd_publish', 'table ip meshd_publish {'];
const HOOKS = [
  '\tchain prerouting {',
  '\t\ttype nat hook prerouting priority dstnat; policy accept;',
  '\t\tfib daddr type local jump publish',
  '\t}',
  '\tchain output {',
  '\t\ttype nat hook output priority -100; policy accept;',
  '\t\tfib daddr type local jump publish',
  '\t}',
];
const table = (publish: string[], ports: string) =>
  [...HEAD, ...HOOKS, '\tchain publish {', ...publish, '\t}', '\tchain forward {', '\t\ttype filter hook forward priority filter; policy accept;', `\t\tct status dnat meta l4proto . th dport { ${ports} } accept`, '\t}', '}', ''].join('\n');

describe('renderPublishRules', () => {
  it('removes the table when nothing is published', () => {
    expect(renderPublishRules([])).toBe('add table ip meshd_publish\ndelete table ip meshd_publish\n');
  });

  it('DNATs an ingress port to the ingress sandbox and a host port with one local replica straight to it', async () => {
    const rules: PublishRule[] = [
      { protocol: 'tcp', port: 8080, to: ['172.31.0.2'], toPort: 8080 },
      { protocol: 'udp', port: 9000, to: ['172.31.0.7'], toPort: 53 },
    ];
    const out = renderPublishRules(rules);
    expect(out).toBe(table(['\t\ttcp dport 8080 dnat to 172.31.0.2:8080', '\t\tudp dport 9000 dnat to 172.31.0.7:53'], 'tcp . 8080, udp . 53'));
    expect(await nftAccepts(out)).toBe('');
  });

  it('spreads a host-mode port over every local replica, a new connection to the next one', async () => {
    const rules: PublishRule[] = [
      { protocol: 'tcp', port: 8080, to: ['172.31.0.2'], toPort: 8080 },
      { protocol: 'tcp', port: 8081, to: ['172.31.0.5', '172.31.0.6', '172.31.0.9'], toPort: 80 },
    ];
    const out = renderPublishRules(rules);
    expect(out).toBe(
      table(['\t\ttcp dport 8080 dnat to 172.31.0.2:8080', '\t\ttcp dport 8081 dnat to numgen inc mod 3 map { 0 : 172.31.0.5, 1 : 172.31.0.6, 2 : 172.31.0.9 }:80'], 'tcp . 8080, tcp . 80'),
    );
    expect(await nftAccepts(out)).toBe('');
  });
});
