import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DevCluster } from '../helpers/dev.js';
import { FILE, INVALID, STACK } from '../corpus/invalid-stacks.js';

/** Every bucket of desired state: a rejected input must not have written to any of them. */
const DESIRED_STREAMS = ['KV_mesh_services', 'KV_mesh_tasks', 'KV_mesh_networks', 'KV_mesh_alloc', 'KV_mesh_lbaddrs'];

/**
 * Every class of bad input through the real CLI against a running cluster: a non-zero exit, a
 * message naming the file and key path (or the argument), and cluster state exactly as before.
 */
describe('invalid input changes nothing', () => {
  let c: DevCluster;
  let dir: string;
  let fingerprint: () => Promise<string>;
  let baseline: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-bad-'));
    c = await DevCluster.up({ nodes: 1 });
    const base = join(dir, 'base.yml');
    await writeFile(
      base,
      `services:\n  api:\n    command: ["sleep", "1000"]\n    ports: ["8080:80"]\n    networks: [back]\nnetworks:\n  back:\n    ipam: { config: [{ subnet: 10.50.0.0/24 }] }\n`,
    );
    await c.ok(['stack', 'deploy', '-c', base, 'live']);
    // The service with its VIPs and ports, every network with its subnet, every stack, the task ids.
    fingerprint = async () =>
      [
        await c.ok(['service', 'inspect', 'live_api']),
        await c.ok(['network', 'ls', '--format', 'json']),
        await c.ok(['stack', 'ls', '--format', 'json']),
        (await c.list<{ ID: string }>(['stack', 'ps', 'live'])).map((t) => t.ID).join(','),
      ].join('\n');
    baseline = await fingerprint();
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const svc = (body: string) => `services:\n  web:\n${body}`;
  const cases: { name: string; yaml?: string; args?: (f: string) => string[]; error: (f: string) => string }[] = [
    { name: 'bad YAML', yaml: 'services:\n  web: [\n', error: (f) => `${f}: line 3, column 1:` },
    { name: 'duplicate keys', yaml: svc('    command: ["a"]\n    command: ["b"]\n'), error: (f) => `${f}: line 4, column 5: Map keys must be unique` },
    { name: 'wrong type', yaml: svc('    command: ["sleep", "1"]\n    deploy: { replicas: three }\n'), error: (f) => `${f}: services.web.deploy.replicas: must be an integer >= 0, got "three"` },
    { name: 'no image or command', yaml: svc('    environment: { A: b }\n'), error: (f) => `${f}: services.web.image: required: an image to run, or a command (a task without an image runs the command on the node)` },
    { name: 'unknown network', yaml: svc('    command: ["sleep", "1"]\n    networks: [nope]\n'), error: (f) => `${f}: services.web.networks[0]:` },
    { name: 'malformed subnet', yaml: svc('    command: ["sleep", "1"]\n') + 'networks:\n  n:\n    ipam: { config: [{ subnet: 10.1.2.3/33 }] }\n', error: (f) => `${f}: networks.n.ipam.config[0].subnet:` },
    { name: 'invalid service name', yaml: 'services:\n  "bad name!":\n    command: ["sleep", "1"]\n', error: (f) => `${f}: services."bad name!":` },
    { name: 'bad constraint', yaml: svc('    command: ["sleep", "1"]\n    deploy: { placement: { constraints: ["node.color == red"] } }\n'), error: (f) => `${f}: services.web.deploy.placement.constraints[0]:` },
    { name: 'in-file port conflict', yaml: 'services:\n  a:\n    command: ["x"]\n    ports: ["9001:80"]\n  b:\n    command: ["x"]\n    ports: ["9001:81"]\n', error: (f) => `${f}: services.b.ports[0]: published port 9001/tcp is also published by services.a.ports[0]` },
    { name: 'port published by another stack', yaml: svc('    command: ["sleep", "1"]\n    ports: ["8080:80"]\n'), error: (f) => `${f}: services.web.ports[0]: port 8080/tcp is already published by service live_api` },
    { name: 'subnet overlapping an existing network', yaml: svc('    command: ["sleep", "1"]\n    networks: [n]\n') + 'networks:\n  n:\n    ipam: { config: [{ subnet: 10.50.0.0/16 }] }\n', error: (f) => `${f}: networks.n.ipam.config[0].subnet: subnet 10.50.0.0/16 overlaps 10.50.0.0/24, already used by network live_back` },
    { name: 'changing an existing network', args: (f) => ['stack', 'deploy', '-c', f, 'live'], yaml: `services:\n  api:\n    command: ["sleep", "1000"]\n    ports: ["8080:80"]\n    networks: [back]\nnetworks:\n  back:\n    internal: true\n    ipam: { config: [{ subnet: 10.50.0.0/24 }] }\n`, error: (f) => `${f}: networks.back: cannot change internal (false -> true) of existing network live_back; remove the stack first` },
    { name: 'huge file', yaml: `# ${'x'.repeat(1024 * 1024 + 10)}\n`, error: (f) => `${f}: file is 1048589 bytes; the limit is 1048576` },
    { name: 'missing file', args: () => ['stack', 'deploy', '-c', '/nonexistent/stack.yml', 'x'], error: () => '/nonexistent/stack.yml: cannot read: ENOENT' },
    { name: 'invalid stack name', args: (f) => ['stack', 'deploy', '-c', f, 'bad name'], yaml: svc('    command: ["sleep", "1"]\n'), error: (f) => `${f}: stack name: must match` },
    { name: 'deploy without -c', args: () => ['stack', 'deploy', 'x'], error: () => 'stack deploy: -c/--compose-file FILE is required' },
    { name: 'scale with a bad count', args: () => ['service', 'scale', 'live_api=-1'], error: () => 'service scale: "live_api=-1": expected SERVICE=REPLICAS with REPLICAS an integer >= 0' },
    { name: 'scale an unknown service', args: () => ['service', 'scale', 'nope=2'], error: () => 'service nope not found' },
    { name: 'bad --format', args: () => ['service', 'ls', '--format', 'xml'], error: () => '--format: must be table or json, got "xml"' },
  ];

  /** The last sequence of every desired-state stream (any write moves it). */
  const writes = async () => {
    const creds = JSON.parse(await readFile(join(c.nodeDir('node-1'), 'state', 'admin.creds'), 'utf8')) as { user: string; password: string };
    const arg = JSON.stringify({ servers: ['nats://172.30.0.11:4222'], user: creds.user, pass: creds.password, ops: DESIRED_STREAMS.map((s) => ['lastSeq', s]) });
    const res = await execa('nsenter', [`--net=${join(c.dir, 'netns', 'underlay')}`, process.execPath, resolve(import.meta.dirname, '..', 'helpers', 'nats-probe.mjs'), arg]);
    return String(res.stdout);
  };

  it(`has a corpus of at least 50 bad inputs (${INVALID.length} files + ${cases.length} more)`, () => {
    expect(INVALID.length + cases.length).toBeGreaterThanOrEqual(50);
  });

  // The parser corpus through the real CLI: the exact problems, one per line, and not one write.
  it.each(INVALID)('refuses the corpus file: %s', async (label, text, problems) => {
    const f = join(dir, `corpus-${label.replace(/[^a-z0-9]+/gi, '-')}.yml`);
    await writeFile(f, text);
    const before = await writes();
    expect(before).toMatch(/^\{"results":\[\d+,\d+,\d+,\d+,\d+\]\}$/);
    const res = await c.meshctl(['stack', 'deploy', '-c', f, STACK]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(problems.map((p) => `meshctl: ${f}${p.slice(FILE.length)}`).join('\n'));
    expect(await writes()).toBe(before);
  });

  for (const tc of cases) {
    it(`refuses ${tc.name}`, async () => {
      const f = join(dir, `${tc.name.replaceAll(' ', '-')}.yml`);
      if (tc.yaml !== undefined) await writeFile(f, tc.yaml);
      const res = await c.meshctl(tc.args ? tc.args(f) : ['stack', 'deploy', '-c', f, 'bad']);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(tc.error(f));
      expect(await fingerprint()).toBe(baseline);
    });
  }
});
