import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DevCluster } from '../helpers/dev.js';

const PROBE = resolve(import.meta.dirname, '..', 'helpers', 'nats-probe.mjs');

/** `--tls` at cluster creation: NATS only over TLS, trust pinned by the join token. */
describe('a cluster created with --tls', () => {
  let c: DevCluster;
  let underlay: string;
  const probe = async (args: object) =>
    JSON.parse(String((await execa('nsenter', [`--net=${underlay}`, process.execPath, PROBE, JSON.stringify({ servers: ['nats://172.30.0.11:4222'], ops: [], ...args })])).stdout)) as { connect?: string; results?: string[] };

  beforeAll(async () => {
    c = await DevCluster.up({ nodes: 2, managers: 1, meshdArgs: ['--tls'] });
    underlay = join(c.dir, 'netns', 'underlay');
  });
  afterAll(async () => {
    await c?.down();
  });

  it('runs a stack with every node on TLS', async () => {
    await c.ok(['stack', 'deploy', '-c', resolve(import.meta.dirname, '..', '..', 'stack-examples', 'web.yml'), 'web'], { timeoutMs: 120_000 });
    const nodes = await c.list<{ Hostname: string; Status: string }>(['node', 'ls']);
    expect(nodes.map((n) => `${n.Hostname}=${n.Status}`)).toEqual(['node-1=Ready', 'node-2=Ready']);
  });

  it("pins the CA in the join token and the worker's credentials", async () => {
    const ca = await readFile(join(c.nodeDir('node-1'), 'state', 'ca.pem'), 'utf8');
    const token = (await c.ok(['cluster', 'join-token', 'worker'])).trim();
    expect(token.split('-')[2]).toBe(createHash('sha256').update(ca).digest('hex').slice(0, 32));
    const creds = JSON.parse(await readFile(join(c.nodeDir('node-2'), 'state', 'node.creds'), 'utf8')) as { ca: string };
    expect(creds.ca).toBe(ca);
  });

  it('refuses plaintext clients and clients that do not trust the cluster CA', async () => {
    const raw = await execa('nsenter', [`--net=${underlay}`, process.execPath, '-e', "const s=require('net').connect(4222,'172.30.0.11');s.once('data',d=>{console.log(String(d).split('\\r\\n')[0]);s.destroy()})"], { timeout: 10_000 });
    expect(String(raw.stdout)).toMatch(/^INFO \{.*"tls_required":true/);
    expect(await probe({})).toEqual({ connect: 'unable to verify the first certificate' });
    const admin = JSON.parse(await readFile(join(c.nodeDir('node-1'), 'state', 'admin.creds'), 'utf8')) as { user: string; password: string; ca: string };
    expect(await probe({ user: admin.user, pass: admin.password, ca: admin.ca, ops: [['get', 'mesh_services', 'x']] })).toEqual({ results: ['ok'] });
  });
});
