import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCluster, slowdown, waitFor, type TaskRow } from '../helpers/dev.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const ADDRS: Record<string, string> = { 'node-1': '172.30.0.11', 'node-2': '172.30.0.12', 'node-3': '172.30.0.13' };
const HTTP = (port: number, body: string) =>
  `["node", "-e", "require('http').createServer((q, s) => s.end(${body} + '\\\\n')).listen(${port})"]`;
const UDP = `["node", "-e", "const d = require('dgram').createSocket('udp4'); d.on('message', (m, r) => d.send(process.env.MESH_TASK_NAME, r.port, r.address)); d.bind(5300)"]`;

const stack = (webPort: number) => `services:
  web:
    command: ${HTTP(80, 'process.env.MESH_TASK_NAME')}
    deploy:
      replicas: 2
      placement: { constraints: ["node.hostname != node-3"] }
    ports: ["${webPort}:80"]
  echo:
    command: ${UDP}
    ports: ["5300:5300/udp"]
  direct:
    command: ${HTTP(8081, 'q.socket.remoteAddress')}
    deploy: { mode: global }
    ports: [{ target: 8081, published: 9090, mode: host }]
  pair:
    command: ${HTTP(8082, 'process.env.MESH_TASK_NAME')}
    deploy:
      replicas: 2
      placement: { constraints: ["node.hostname == node-3"] }
    ports: [{ target: 8082, published: 9091, mode: host }]
`;

/** North-south: published ports on every node (the routing mesh) and host-mode ports. */
describe('routing mesh ingress on a 3-node dev cluster', () => {
  let c: DevCluster;
  let dir: string;
  let underlay: string;
  /** A client in the underlay namespace, outside every node. */
  const client = async (argv: string[]) => execa('nsenter', [`--net=${underlay}`, ...argv], { reject: false, timeout: 60_000 });
  const curlLoop = async (addr: string, port: number, n: number) =>
    String((await client(['sh', '-c', `for i in $(seq ${n}); do curl -s --max-time 2 http://${addr}:${port}/; echo; done`])).stdout)
      .split('\n')
      .filter(Boolean);
  const udpAsk = async (addr: string, port: number) =>
    String(
      (
        await client([
          process.execPath,
          '-e',
          `const d = require('dgram').createSocket('udp4'); d.on('message', (m) => { console.log(String(m)); d.close(); }); d.send('hi', ${port}, '${addr}'); setTimeout(() => process.exit(1), 2000);`,
        ])
      ).stdout,
    ).trim();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-stacks-'));
    await writeFile(join(dir, 'v1.yml'), stack(8080));
    await writeFile(join(dir, 'v2.yml'), stack(8088));
    c = await DevCluster.up({ nodes: 3, managers: 1 });
    underlay = join(c.dir, 'netns', 'underlay');
    await c.ok(['stack', 'deploy', '-c', join(dir, 'v1.yml'), 'pub'], { timeoutMs: 120_000 });
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers a published port on every node, also where no replica runs, over both replicas', async () => {
    const web = (await c.list<TaskRow>(['service', 'ps', 'pub_web'])).filter((t) => t.DesiredState === 'Running');
    expect(web.map((t) => t.Node).sort()).toEqual(['node-1', 'node-2']);
    for (const node of NODES) {
      // A node's LB may still be adding the second replica just after deploy returns: wait until
      // 30 answers in a row come back and span both replicas (the error names what was seen).
      const answers = await waitFor(`30 answers from ${node} over both replicas`, async () => {
        const got = await curlLoop(ADDRS[node]!, 8080, 30);
        if (got.length !== 30) throw new Error(`${got.length} of 30 answered`);
        if (new Set(got).size !== 2) throw new Error(`answers only from ${[...new Set(got)].join(', ')}`);
        return got;
      });
      expect(new Set(answers)).toEqual(new Set(['pub_web.1', 'pub_web.2']));
    }
  });

  it('answers a UDP published port on every node', async () => {
    for (const node of NODES) {
      expect(await waitFor(`udp from ${node}`, async () => (await udpAsk(ADDRS[node]!, 5300)) || undefined)).toBe('pub_echo.1');
    }
  });

  it('keeps the client source address on a host-mode port', async () => {
    for (const node of NODES) {
      const [seen] = await waitFor(`host port on ${node}`, async () => {
        const got = await curlLoop(ADDRS[node]!, 9090, 1);
        return got.length === 1 ? got : undefined;
      });
      expect(seen!.replace(/^::ffff:/, '')).toBe('172.30.0.1');
    }
  });

  it('spreads a host-mode port over both replicas on its node', async () => {
    const pair = (await c.list<TaskRow>(['service', 'ps', 'pub_pair'])).filter((t) => t.DesiredState === 'Running');
    expect(pair.map((t) => t.Node)).toEqual(['node-3', 'node-3']);
    // Each new connection takes the next local replica: 10 in a row reach both.
    const answers = await waitFor('10 answers on node-3:9091 from both replicas', async () => {
      const got = await curlLoop(ADDRS['node-3']!, 9091, 10);
      if (got.length !== 10) throw new Error(`${got.length} of 10 answered`);
      if (new Set(got).size !== 2) throw new Error(`answers only from ${[...new Set(got)].join(', ')}`);
      return got;
    });
    expect(new Set(answers)).toEqual(new Set(['pub_pair.1', 'pub_pair.2']));
  });

  it('refuses a conflicting port and leaves the running stack answering', async () => {
    const f = join(dir, 'clash.yml');
    await writeFile(f, `services:\n  other:\n    command: ["sleep", "1000"]\n    ports: ["8080:80"]\n`);
    const res = await c.meshctl(['stack', 'deploy', '-c', f, 'clash']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('port 8080/tcp is already published by service pub_web');
    expect((await curlLoop(ADDRS['node-3']!, 8080, 4)).length).toBe(4);
  });

  it('moves a published port on redeploy: the old one closes everywhere, the new one answers', async () => {
    await c.ok(['stack', 'deploy', '-c', join(dir, 'v2.yml'), 'pub'], { timeoutMs: 120_000 });
    for (const node of NODES) {
      await waitFor(`8088 on ${node}`, async () => ((await curlLoop(ADDRS[node]!, 8088, 2)).length === 2 ? true : undefined));
      await waitFor(`8080 closed on ${node}`, async () => ((await curlLoop(ADDRS[node]!, 8080, 1)).length === 0 ? true : undefined));
    }
  });

  it('leaves no rule, chain, namespace or address of ours on any node once the stack is removed', async () => {
    await c.ok(['stack', 'rm', 'pub']);
    for (const node of NODES) {
      const nodeNetns = join(c.dir, 'netns', node);
      await waitFor(`${node} clean`, async () => {
        const left = (await readdir(join(c.nodeDir(node), 'run', 'netns')).catch(() => [])).filter(Boolean);
        const tables = String((await execa('nsenter', [`--net=${nodeNetns}`, 'nft', 'list', 'tables'])).stdout);
        const linksOut = String((await execa('nsenter', [`--net=${nodeNetns}`, 'ip', '-o', 'link'])).stdout);
        const addrs = String((await execa('nsenter', [`--net=${nodeNetns}`, 'ip', '-o', '-4', 'addr'])).stdout);
        const clean = left.length === 0 && !/meshd/.test(tables) && !/meshgw0|vx\d+/.test(linksOut) && !/172\.31\./.test(addrs);
        return clean ? true : undefined;
      }, slowdown(30_000), 500);
    }
  });
});
