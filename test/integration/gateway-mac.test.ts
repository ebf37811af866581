import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = join(import.meta.dirname, '..', '..');

/**
 * Runs in a network namespace of its own (`unshare --net`): ensureGateway acts on its process's
 * namespace. Prints the gateway bridge's MAC after each step.
 */
const SCRIPT = `
import { run } from ${JSON.stringify(join(REPO, 'core', 'exec.ts'))};
import { ensureGateway, gatewayMac, GW_BRIDGE } from ${JSON.stringify(join(REPO, 'worker', 'dataplane', 'gateway.ts'))};
import { links } from ${JSON.stringify(join(REPO, 'worker', 'dataplane', 'observe.ts'))};
const g = { subnet: '172.31.0.0/16', mtu: 1500, tasks: [], forwardingMarker: process.argv[2] };
const mac = async () => (await links(undefined)).get(GW_BRIDGE)?.address;
const port = (name, address) => run(['ip', '-batch', '-'], { input: \`link add \${name} address \${address} type veth peer name \${name}p\\nlink set \${name} master \${GW_BRIDGE}\\nlink set \${name} up\\n\` });
const out = { want: gatewayMac(g.subnet) };
await ensureGateway(g);
out.created = await mac();
await port('ga', '00:00:00:00:00:05');
out.lowerPortJoined = await mac();
await run(['ip', 'link', 'del', 'ga']);
out.thatPortLeft = await mac();
// A bridge an older meshd made: its MAC is its lowest port's, until ensureGateway fixes it.
await run(['ip', 'link', 'del', GW_BRIDGE]);
await run(['ip', 'link', 'add', GW_BRIDGE, 'type', 'bridge']);
await port('gb', '00:00:00:00:00:07');
out.olderBridge = await mac();
await ensureGateway(g);
out.olderBridgeFixed = await mac();
await port('gc', '00:00:00:00:00:03');
await run(['ip', 'link', 'del', 'gb']);
out.olderBridgePortsChanged = await mac();
console.log(JSON.stringify(out));
`;

describe('gateway bridge MAC', () => {
  it('stays fixed while task legs join and leave (tasks cache it as their gateway and DNS server)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshd-gwmac-'));
    try {
      const script = join(dir, 'gw.mts');
      await writeFile(script, SCRIPT);
      const res = await execa('unshare', ['--net', process.execPath, '--import', 'tsx', script, join(dir, 'ip_forward.meshd')], { cwd: REPO });
      const out = JSON.parse(String(res.stdout).trim().split('\n').at(-1)!) as Record<string, string>;
      expect(out.want).toBe('02:42:ac:1f:00:01');
      expect(out.olderBridge).toBe('00:00:00:00:00:07');
      for (const k of ['created', 'lowerPortJoined', 'thatPortLeft', 'olderBridgeFixed', 'olderBridgePortsChanged']) expect({ [k]: out[k] }).toEqual({ [k]: out.want });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
