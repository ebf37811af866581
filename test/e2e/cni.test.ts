/**
 * The CNI plugin end to end (issue 15): Debian's podman, on its CNI backend, runs containers in
 * node-2's and node-3's namespaces on a stack's attachable overlay, through the plugin binary
 * and the conflist `meshctl network cni-config` writes. Real podman, real meshd, real curl/dig.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { DevCluster, slowdown, waitFor, type TaskRow } from '../helpers/dev.js';
import { ImageBuilder } from '../helpers/images.js';

const REPO = resolve(import.meta.dirname, '..', '..');
const PROBE = join(REPO, 'test', 'helpers', 'nats-probe.mjs');
const WEB = `require('http').createServer((q, s) => s.end(require('os').hostname() + '\\\\n')).listen(8080)`;
const STACK = `services:
  web:
    command: ["node", "-e", "${WEB}"]
    deploy: { replicas: 3 }
    networks: [app]
  client:
    command: ["sleep", "100000"]
    deploy: { placement: { constraints: ["node.hostname == node-1"] } }
    networks: [app, private]
networks:
  app: { attachable: true }
  private: {}
`;

interface NetworkInspect {
  Id: string;
  IPAM: { Config: { Subnet: string }[] };
  Containers: Record<string, { Name: string; EndpointID: string; IPv4Address: string; MacAddress: string; Node: string }>;
}

describe('the meshd CNI plugin with podman (3 nodes)', () => {
  let c: DevCluster;
  let dir: string;
  let builder: ImageBuilder;
  let image: string;
  const started = new Map<string, string>();

  const nodeNetns = (node: string) => join(c.dir, 'netns', node);
  const confDir = (node: string) => join(dir, 'conf', node);
  const containersConf = () => join(dir, 'containers.conf');
  /** podman on `node` as a runtime there runs it: our conflist dir, our plugin dir, the CNI backend. */
  const podman = (node: string, args: string[]) =>
    builder.runtime(['--network-config-dir', confDir(node), ...args], { netns: nodeNetns(node), env: { CONTAINERS_CONF: containersConf() }, timeoutMs: slowdown(180_000) });
  const run = async (node: string, name: string, network = 'cni_app') => {
    const res = await podman(node, ['run', '-d', '--name', name, '--network', network, ...builder.ulimitArgs, image]);
    if (res.code === 0) started.set(name, node);
    return res;
  };
  const rmContainer = async (name: string) => {
    const node = started.get(name)!;
    const res = await podman(node, ['rm', '-f', '-t', '0', name]);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    started.delete(name);
  };
  const inspectApp = async () => (JSON.parse(await c.ok(['network', 'inspect', 'cni_app'])) as NetworkInspect[])[0]!;
  const admin = async (ops: unknown[]) => {
    const creds = JSON.parse(await readFile(join(c.nodeDir('node-1'), 'state', 'admin.creds'), 'utf8')) as { user: string; password: string; ca?: string };
    const out = await execa('nsenter', [`--net=${join(c.dir, 'netns', 'underlay')}`, process.execPath, PROBE, JSON.stringify({ servers: ['nats://172.30.0.11:4222'], user: creds.user, pass: creds.password, ops })]);
    return (JSON.parse(String(out.stdout)) as { results: unknown[] }).results;
  };
  /** Every trace of attached containers, on every node and in cluster state, and the claims of these addresses (all empty when nothing is attached). */
  const traces = async (net: NetworkInspect, addrs: string[]) => {
    const [endpoints, allocKeys] = (await admin([['values', 'mesh_endpoints'], ['keys', 'mesh_alloc']])) as [Record<string, unknown>, string[]];
    const links: string[] = [];
    for (const node of ['node-1', 'node-2', 'node-3']) {
      const netnsDir = join(c.nodeDir(node), 'run', 'netns');
      for (const ns of (await readdir(netnsDir).catch(() => [] as string[])).filter((n) => n.startsWith('ov_'))) {
        const out = await execa('nsenter', [`--net=${join(netnsDir, ns)}`, 'ip', '-o', 'link'], { reject: false });
        links.push(...String(out.stdout).split('\n').filter((l) => /^\d+: c[0-9a-f]{11}@/.test(l)).map((l) => `${node}/${ns}: ${l.split(':')[1]!.trim()}`));
      }
    }
    const claims = new Set(addrs.map((a) => `ip.${net.Id}.${a.split('/')[0]!.replaceAll('.', '_')}`));
    return { endpoints: Object.keys(endpoints), links, addresses: allocKeys.filter((k) => claims.has(k)) };
  };

  /**
   * What a node wrote for a remote endpoint: its VXLAN FDB entry (MAC -> its node) and its
   * permanent neighbour entry. (What the bridge learns from its frames is the kernel's; it ages out.)
   */
  const peerEntries = async (node: string, ep: { MacAddress: string; IPv4Address: string }) => {
    const addr = ep.IPv4Address.split('/')[0]!;
    const out = await c.ok(['dev', 'exec', node, '--', 'sh', '-c', `for n in ${join(c.nodeDir(node), 'run', 'netns')}/ov_*; do nsenter --net=$n bridge fdb show dev vxlan0; nsenter --net=$n ip neigh show nud permanent; done`]);
    return out.split('\n').filter((l) => (l.includes(ep.MacAddress) && l.includes(' dst ')) || l.startsWith(`${addr} `));
  };

  /** The plugin binary as a runtime calls it: environment and configuration on stdin. */
  const plugin = async (env: Record<string, string>, config: Record<string, unknown>) => {
    const res = await execa(process.execPath, [join(REPO, 'bin', 'meshd-cni.js')], { reject: false, input: JSON.stringify(config), env: { CNI_PATH: '/opt/cni/bin', ...env } });
    return { code: res.exitCode, out: String(res.stdout) === '' ? undefined : (JSON.parse(String(res.stdout)) as Record<string, unknown>) };
  };
  const netconf = (node: string, network: string, extra: Record<string, unknown> = {}) => ({ cniVersion: '1.1.0', name: network, type: 'meshd', socket: join(c.nodeDir(node), 'run', 'cni.sock'), network, ...extra });
  /** A network namespace of the test's own (what a runtime's sandbox is), held by a bind-mounted file. */
  const sandbox = async (name: string) => {
    const path = join(dir, name);
    await writeFile(path, '');
    await execa('unshare', [`--net=${path}`, 'true']);
    sandboxes.push(path);
    return path;
  };
  const sandboxes: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-cni-'));
    c = await DevCluster.up({ nodes: 3 });
    await writeFile(join(dir, 'stack.yml'), STACK);
    await c.ok(['stack', 'deploy', '-c', join(dir, 'stack.yml'), 'cni'], { timeoutMs: 180_000 });
    builder = await ImageBuilder.create();
    image = await builder.build({ tag: 'cni-probe:1', lines: ['CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]'], files: { '/www/index.html': 'probe\n' } });
    // The plugin as setup.sh installs it, but of this checkout: runtimes call it with no PATH.
    const pluginDir = join(dir, 'cni-bin');
    await mkdir(pluginDir);
    await writeFile(join(pluginDir, 'meshd'), `#!/bin/sh\nexec ${process.execPath} ${join(REPO, 'bin', 'meshd-cni.js')} "$@"\n`, { mode: 0o755 });
    await writeFile(containersConf(), `[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["${pluginDir}"]\n`);
    for (const node of ['node-2', 'node-3']) await c.ok(['network', 'cni-config', 'cni_app', '--node', node, '--write', confDir(node)]);
    await waitFor('3 web replicas running on 3 nodes', async () => {
      const rows = (await c.list<TaskRow>(['service', 'ps', 'cni_web'])).filter((t) => t.CurrentState.startsWith('Running'));
      return new Set(rows.map((r) => r.Node)).size === 3 ? rows : undefined;
    }, slowdown(90_000));
  }, 600_000);

  afterAll(async () => {
    for (const [name, node] of started) await podman(node, ['rm', '-f', '-t', '0', name]).catch(() => undefined);
    await builder?.remove();
    await c?.down();
    if (dir) {
      for (const path of sandboxes) await execa('umount', [path], { reject: false });
      await rm(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('writes a conflist naming the node socket and the network; refuses a network that is not attachable', async () => {
    const conf = JSON.parse(await c.ok(['network', 'cni-config', 'cni_app', '--node', 'node-2'])) as { name: string; plugins: { type: string; socket: string; network: string }[] };
    expect(conf).toMatchObject({ name: 'cni_app', plugins: [{ type: 'meshd', socket: join(c.nodeDir('node-2'), 'run', 'cni.sock'), network: 'cni_app' }] });
    const refused = await c.meshctl(['network', 'cni-config', 'cni_private', '--node', 'node-2']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/network cni_private is not attachable/);
  });

  it('podman run gets an address on the overlay, resolves a service and reaches its replicas on every node through the VIP', async () => {
    const res = await run('node-2', 'probe');
    expect(res, res.stderr).toMatchObject({ code: 0 });
    const net = await inspectApp();
    const entry = Object.values(net.Containers).find((x) => x.Name === 'probe');
    expect(entry).toMatchObject({ Node: 'node-2', IPv4Address: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+\/24$/) });
    const vip = (JSON.parse(await c.ok(['service', 'inspect', 'cni_web'])) as { Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] } }[])[0]!.Endpoint.VirtualIPs.find((v) => v.NetworkID === net.Id)!.Addr.split('/')[0]!;
    const lookup = await podman('node-2', ['exec', 'probe', 'nslookup', 'web']);
    expect(lookup.stdout).toContain(vip);
    const loop = 'i=0; while [ $i -lt 30 ]; do wget -qO- http://web:8080/; i=$((i+1)); done';
    const answers = await podman('node-2', ['exec', 'probe', 'sh', '-c', loop]);
    expect(answers, answers.stderr).toMatchObject({ code: 0 });
    const replicas = (await c.list<TaskRow>(['service', 'ps', 'cni_web'])).filter((t) => t.CurrentState.startsWith('Running'));
    expect(new Set(answers.stdout.trim().split('\n'))).toEqual(new Set(replicas.map((r) => r.Name)));
  });

  it('a task resolves the container by name and reaches it', async () => {
    const net = await inspectApp();
    const addr = Object.values(net.Containers).find((x) => x.Name === 'probe')!.IPv4Address.split('/')[0];
    expect((await c.ok(['task', 'exec', 'cni_client.1', '--', 'dig', '+short', 'probe'])).trim()).toBe(addr);
    expect((await c.ok(['task', 'exec', 'cni_client.1', '--', 'curl', '-sS', '--max-time', '5', 'http://probe:8080/'])).trim()).toBe('probe');
  });

  it('podman rm -f releases everything: the address, the registration, every interface; a second DEL succeeds', async () => {
    const net = await inspectApp();
    const entry = Object.entries(net.Containers).find(([, x]) => x.Name === 'probe')!;
    expect(await traces(net, [entry[1].IPv4Address])).toMatchObject({ endpoints: [expect.any(String)], addresses: [expect.any(String)] });
    for (const node of ['node-1', 'node-3']) expect(await peerEntries(node, entry[1])).toHaveLength(2);
    await rmContainer('probe');
    expect(await traces(net, [entry[1].IPv4Address])).toEqual({ endpoints: [], links: [], addresses: [] });
    expect((await inspectApp()).Containers).toEqual({});
    // No peer entry of ours for it left on any other node (it had one on each while attached).
    for (const node of ['node-1', 'node-3']) expect(await peerEntries(node, entry[1])).toEqual([]);
    // DEL again, as a runtime retrying would: no prevResult, the namespace gone.
    const del = await execa(process.execPath, [join(REPO, 'bin', 'meshd-cni.js')], {
      reject: false,
      input: JSON.stringify({ cniVersion: '1.0.0', name: 'cni_app', type: 'meshd', socket: join(c.nodeDir('node-2'), 'run', 'cni.sock'), network: 'cni_app' }),
      env: { CNI_COMMAND: 'DEL', CNI_CONTAINERID: entry[0], CNI_NETNS: '/run/netns/gone', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
    });
    expect({ code: del.exitCode, stdout: del.stdout }).toEqual({ code: 0, stdout: '' });
  });

  it('20 containers started and removed concurrently on two nodes leave nothing behind', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `many${i}`);
    const results = await Promise.all(names.map((n, i) => run(i % 2 ? 'node-3' : 'node-2', n)));
    expect(results.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
    const net = await inspectApp();
    const attached = Object.values(net.Containers);
    expect(attached.map((a) => a.Name).sort()).toEqual([...names].sort());
    expect(new Set(attached.map((a) => a.IPv4Address)).size).toBe(20);
    expect(new Set(attached.map((a) => a.Node))).toEqual(new Set(['node-2', 'node-3']));
    await Promise.all(names.map((n) => rmContainer(n)));
    expect(await traces(net, attached.map((a) => a.IPv4Address))).toEqual({ endpoints: [], links: [], addresses: [] });
  }, 600_000);

  it('refuses a container on a network that is not attachable, with the CNI error podman shows', async () => {
    const conf = { cniVersion: '1.0.0', name: 'cni_private', plugins: [{ type: 'meshd', socket: join(c.nodeDir('node-2'), 'run', 'cni.sock'), network: 'cni_private' }] };
    await writeFile(join(confDir('node-2'), 'cni_private.conflist'), JSON.stringify(conf));
    const res = await run('node-2', 'walled', 'cni_private');
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/network cni_private is not attachable/);
    started.set('walled', 'node-2');
    expect((await traces(await inspectApp(), [])).endpoints).toEqual([]);
  });

  it('a restarted meshd keeps the attachment: the container still resolves and reaches the service', async () => {
    const res = await run('node-2', 'keeper');
    expect(res, res.stderr).toMatchObject({ code: 0 });
    const before = Object.values((await inspectApp()).Containers).find((x) => x.Name === 'keeper');
    await c.ok(['dev', 'stop', 'node-2']);
    await c.ok(['dev', 'start', 'node-2']);
    expect(Object.values((await inspectApp()).Containers).find((x) => x.Name === 'keeper')).toEqual(before);
    const answer = await waitFor('keeper to reach web after the restart', async () => {
      // (busybox wget -T segfaults: no per-request bound here; podman's own timeout bounds it.)
      const r = await podman('node-2', ['exec', 'keeper', 'wget', '-qO-', 'http://web:8080/']);
      if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stdout} ${r.stderr}`);
      return r.stdout.trim();
    }, slowdown(60_000));
    expect(answer).toMatch(/^cni_web\.\d$/);
    await rmContainer('keeper');
  }, 300_000);

  it('collects an attachment whose namespace vanished without a DEL (the plugin binary driven as a runtime would)', async () => {
    const netns = await sandbox('vanishing');
    const socket = join(c.nodeDir('node-3'), 'run', 'cni.sock');
    const add = await execa(process.execPath, [join(REPO, 'bin', 'meshd-cni.js')], {
      reject: false,
      input: JSON.stringify({ cniVersion: '0.4.0', name: 'cni_app', type: 'meshd', socket, network: 'cni_app' }),
      env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'vanishing-1', CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=vanishing', CNI_PATH: '/opt/cni/bin' },
    });
    expect(add.exitCode, add.stdout).toBe(0);
    const result = JSON.parse(add.stdout) as { cniVersion: string; ips: { version: string; address: string }[]; dns: { nameservers: string[] } };
    expect(result).toMatchObject({ cniVersion: '0.4.0', ips: [{ version: '4', address: expect.stringMatching(/^10\./) }, { version: '4' }], dns: { nameservers: [expect.any(String)] } });
    expect(Object.values((await inspectApp()).Containers).map((x) => x.Name)).toContain('vanishing');
    // The runtime dies with its sandbox: no DEL ever comes.
    await execa('umount', [netns]);
    await rm(netns);
    const collected = await waitFor('the vanished attachment to be collected', async () => {
      const names = Object.values((await inspectApp()).Containers).map((x) => x.Name);
      return names.includes('vanishing') ? undefined : names;
    }, slowdown(30_000), 500);
    expect(collected).not.toContain('vanishing');
    expect(await traces(await inspectApp(), [result.ips[0]!.address])).toEqual({ endpoints: [], links: [], addresses: [] });
  }, 120_000);

  it('CHECK, STATUS and GC against the real meshd; an unknown network is refused', async () => {
    const netns = await sandbox('checked');
    const env = { CNI_CONTAINERID: 'checked-1', CNI_NETNS: netns, CNI_IFNAME: 'eth0' };
    expect(await plugin({ ...env, CNI_COMMAND: 'ADD' }, netconf('node-3', 'cni_nope'))).toMatchObject({ code: 1, out: { code: 100, msg: 'network cni_nope not found' } });
    const add = await plugin({ ...env, CNI_COMMAND: 'ADD' }, netconf('node-3', 'cni_app'));
    expect(add).toMatchObject({ code: 0, out: { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', sandbox: netns }, { name: 'gw0' }], routes: [{ dst: '0.0.0.0/0' }] } });
    const prevResult = add.out;
    expect(await plugin({ ...env, CNI_COMMAND: 'CHECK' }, netconf('node-3', 'cni_app', { prevResult }))).toEqual({ code: 0, out: undefined });
    expect(await plugin({ CNI_COMMAND: 'STATUS' }, netconf('node-3', 'cni_app'))).toEqual({ code: 0, out: undefined });
    expect(await plugin({ CNI_COMMAND: 'STATUS' }, netconf('node-3', 'cni_private'))).toMatchObject({ code: 1, out: { code: 50 } });
    // Someone deletes the interface by hand: CHECK says so.
    await execa('nsenter', [`--net=${netns}`, 'ip', 'link', 'del', 'eth0']);
    expect(await plugin({ ...env, CNI_COMMAND: 'CHECK' }, netconf('node-3', 'cni_app', { prevResult }))).toMatchObject({ code: 1, out: { code: 103, msg: expect.stringContaining('eth0 is missing') } });
    // GC with nothing valid any more: the attachment goes.
    expect(await plugin({ CNI_COMMAND: 'GC' }, netconf('node-3', 'cni_app', { 'cni.dev/valid-attachments': [] }))).toEqual({ code: 0, out: undefined });
    expect(Object.values((await inspectApp()).Containers).map((x) => x.Name)).not.toContain('checked-1');
    expect(await plugin({ ...env, CNI_COMMAND: 'DEL' }, netconf('node-3', 'cni_app'))).toEqual({ code: 0, out: undefined });
  });

  it('network create --attachable makes a network of its own that containers join; network rm refuses it while in use', async () => {
    expect((await c.ok(['network', 'create', '--attachable', 'solo'])).trim()).toMatch(/^[0-9a-f]{25}$/);
    const dup = await c.meshctl(['network', 'create', 'solo']);
    expect({ code: dup.code, err: dup.stderr }).toMatchObject({ code: 1, err: expect.stringContaining('network with name solo already exists') });
    await c.ok(['network', 'cni-config', 'solo', '--node', 'node-3', '--write', confDir('node-3')]);
    const res = await run('node-3', 'alone', 'solo');
    expect(res, res.stderr).toMatchObject({ code: 0 });
    const solo = (JSON.parse(await c.ok(['network', 'inspect', 'solo'])) as NetworkInspect[])[0]!;
    expect(Object.values(solo.Containers).map((x) => [x.Name, x.Node])).toEqual([['alone', 'node-3']]);
    const busy = await c.meshctl(['network', 'rm', 'solo']);
    expect(busy.stderr).toMatch(/network solo has active endpoints \(alone\)/);
    const stackNet = await c.meshctl(['network', 'rm', 'cni_app']);
    expect(stackNet.stderr).toMatch(/belongs to stack cni/);
    await rmContainer('alone');
    expect((await c.ok(['network', 'rm', 'solo'])).trim()).toBe('solo');
    expect((await c.list<{ Name: string }>(['network', 'ls'])).map((n) => n.Name)).not.toContain('solo');
  });
});
