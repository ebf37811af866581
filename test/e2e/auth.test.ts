import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DevCluster, waitFor } from '../helpers/dev.js';

const PROBE = resolve(import.meta.dirname, '..', 'helpers', 'nats-probe.mjs');
const NATS = ['nats://172.30.0.11:4222'];

/** Authentication and authority on a 1-manager, 2-worker dev cluster. */
describe('join tokens, credentials and NATS permissions', () => {
  let c: DevCluster;
  let underlay: string;
  let ids: Record<string, string>;

  /** Runs NATS operations from the underlay as `creds` (or anonymously); one result per op. */
  const probe = async (creds: { user: string; password: string } | undefined, ops: string[][]): Promise<string[]> => {
    const arg = JSON.stringify({ servers: NATS, ...(creds ? { user: creds.user, pass: creds.password } : {}), ops });
    const res = await execa('nsenter', [`--net=${underlay}`, process.execPath, PROBE, arg], { timeout: 60_000 });
    const parsed = JSON.parse(String(res.stdout)) as { results?: string[]; connect?: string };
    if (!parsed.results) throw new Error(`probe could not connect: ${parsed.connect}`);
    return parsed.results;
  };
  const credsOf = async (node: string) => JSON.parse(await readFile(join(c.nodeDir(node), 'state', 'node.creds'), 'utf8')) as { user: string; password: string };
  /** Starts one more meshd in node-3's namespace with its own state dir; resolves when it exits. */
  const extraMeshd = async (args: string[], env: Record<string, string> = {}) => {
    const state = join(c.dir, 'extra-state');
    await rm(state, { recursive: true, force: true });
    const res = await execa(
      'nsenter',
      [`--net=${join(c.dir, 'netns', 'node-3')}`, process.execPath, resolve(import.meta.dirname, '..', '..', 'bin', 'meshd.js'), '--node-name', 'intruder', '--advertise-addr', '172.30.0.13', '--state-dir', state, '--run-dir', join(c.dir, 'extra-run'), '--join', '172.30.0.11', ...args],
      { reject: false, timeout: 60_000, env },
    );
    await rm(state, { recursive: true, force: true });
    await rm(join(c.dir, 'extra-run'), { recursive: true, force: true });
    return { code: res.exitCode, stderr: String(res.stderr) };
  };

  beforeAll(async () => {
    c = await DevCluster.up({ nodes: 3, managers: 1 });
    underlay = join(c.dir, 'netns', 'underlay');
    const full = async (node: string) => (await readFile(join(c.nodeDir(node), 'state', 'node-id'), 'utf8')).trim();
    ids = { 'node-2': await full('node-2'), 'node-3': await full('node-3') };
  });
  afterAll(async () => {
    await c?.down();
  });

  it('gives managers and workers different join tokens, and keeps secrets readable by root only', async () => {
    const worker = (await c.ok(['cluster', 'join-token', 'worker'])).trim();
    const manager = (await c.ok(['cluster', 'join-token', 'manager'])).trim();
    expect(worker).toMatch(/^MESHTKN-1-[0-9a-f]{32}-[0-9a-z]{40}$/);
    expect(manager).toMatch(/^MESHTKN-1-[0-9a-f]{32}-[0-9a-z]{40}$/);
    expect(worker.split('-')[2]).toBe(manager.split('-')[2]);
    expect(worker).not.toBe(manager);
    for (const f of [join(c.nodeDir('node-1'), 'state', 'cluster-secrets.json'), join(c.nodeDir('node-1'), 'state', 'admin.creds'), join(c.nodeDir('node-2'), 'state', 'node.creds')]) {
      const { stdout } = await execa('stat', ['-c', '%a', f]);
      expect({ f, mode: String(stdout).trim() }).toEqual({ f, mode: '600' });
    }
  });

  it('lets a worker write only its own status, read but never write desired state, and never read credentials or ask for another node\'s', async () => {
    const creds = await credsOf('node-2');
    const results = await probe(creds, [
      ['put', 'mesh_services', 'forged'],
      ['put', 'mesh_tasks', 'forged'],
      ['put', 'mesh_status', `${ids['node-3']}.forged`],
      ['put', 'mesh_status', `${ids['node-2']}.probe`],
      ['put', 'mesh_applied', ids['node-3']!],
      ['get', 'mesh_services', 'anything'],
      ['get', 'mesh_auth', 'anything'],
      ['get', 'mesh_secrets', 'registry.anything'],
      ['request', `mesh.secret.${ids['node-3']}.registry-auth`, '{"serviceId":"x"}'],
      ['request', 'mesh.api.stack.rm', '{"stack":"x"}'],
    ]);
    expect(results).toEqual([
      `error: 'Permissions Violation for Publish to "$KV.mesh_services.forged"'`,
      `error: 'Permissions Violation for Publish to "$KV.mesh_tasks.forged"'`,
      `error: 'Permissions Violation for Publish to "$KV.mesh_status.${ids['node-3']}.forged"'`,
      'ok',
      `error: 'Permissions Violation for Publish to "$KV.mesh_applied.${ids['node-3']}"'`,
      'ok',
      `error: 'Permissions Violation for Publish to "$JS.API.STREAM.MSG.GET.KV_mesh_auth"'`,
      `error: 'Permissions Violation for Publish to "$JS.API.STREAM.MSG.GET.KV_mesh_secrets"'`,
      `error: 'Permissions Violation for Publish to "mesh.secret.${ids['node-3']}.registry-auth"'`,
      `error: 'Permissions Violation for Publish to "mesh.api.stack.rm"'`,
    ]);
  });

  it('lets a connection without credentials do nothing but ask to join', async () => {
    expect(await probe(undefined, [['get', 'mesh_services', 'x'], ['request', 'mesh.api.stack.rm', '{}']])).toEqual([
      `error: 'Permissions Violation for Publish to "$JS.API.INFO"'`,
      `error: 'Permissions Violation for Publish to "mesh.api.stack.rm"'`,
    ]);
  });

  it('refuses meshctl without credentials or with wrong ones, naming what to pass', async () => {
    const none = await c.meshctl(['--creds', '/nonexistent/admin.creds', 'service', 'ls']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('meshctl: --creds /nonexistent/admin.creds: no such file');
    const wrong = join(c.dir, 'wrong.creds');
    await execa('sh', ['-c', `echo '{"user":"mesh-admin","password":"nope"}' > ${wrong}`]);
    const refused = await c.meshctl(['--creds', wrong, 'service', 'ls']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`meshctl: the cluster refused the credentials in ${wrong}`);
  });

  it('refuses a wrong, missing or worker token for a joining node, and logs the refusal', async () => {
    const worker = (await c.ok(['cluster', 'join-token', 'worker'])).trim();
    const forged = worker.replace(/-[0-9a-z]{40}$/, `-${'a'.repeat(40)}`);
    const bad = await extraMeshd(['--role', 'worker'], { MESHD_JOIN_TOKEN: forged });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('meshd: join refused: invalid worker join token');
    const asManager = await extraMeshd(['--role', 'manager'], { MESHD_JOIN_TOKEN: worker });
    expect(asManager.code).toBe(1);
    expect(asManager.stderr).toBe('meshd: join refused: a worker token cannot join a manager');
    const missing = await extraMeshd(['--role', 'worker']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('meshd: --join-token-file: a worker joins a cluster with a worker token (get one on a manager with: meshctl cluster join-token worker; or set MESHD_JOIN_TOKEN)');
    const malformed = await extraMeshd(['--role', 'worker', '--join-token', 'hello']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('--join-token: not a join token');
    const log = await c.meshdLog('node-1');
    expect(log).toMatch(/WARN join refused .*node=intruder .*role=worker reason="invalid worker join token"/);
    expect(log).toMatch(/WARN join refused .*node=intruder .*role=manager reason="a worker token cannot join a manager"/);
    // Nothing joined: the cluster still has its three nodes.
    expect((await c.list(['node', 'ls'])).length).toBe(3);
  });

  it("ignores heartbeats a node sends for another node's id", async () => {
    // node-3 stops beating; a forged heartbeat for it from node-2's credentials is refused by NATS.
    const creds = await credsOf('node-2');
    await c.ok(['dev', 'kill', 'node-3']);
    await waitFor('node-3 down', async () => ((await c.list<{ Hostname: string; Status: string }>(['node', 'ls'])).find((n) => n.Hostname === 'node-3')?.Status === 'Down' ? true : undefined), 15_000, 250);
    const results = await probe(creds, [['request', `mesh.register.${ids['node-3']}`, '{}']]);
    expect(results).toEqual([`error: 'Permissions Violation for Publish to "mesh.register.${ids['node-3']}"'`]);
    await c.ok(['dev', 'start', 'node-3']);
    await waitFor('node-3 back', async () => ((await c.list<{ Hostname: string; Status: string }>(['node', 'ls'])).find((n) => n.Hostname === 'node-3')?.Status === 'Ready' ? true : undefined), 30_000, 250);
  });
});
