import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { DevCluster, waitFor, type TaskRow } from '../helpers/dev.js';
import { netnsMountsUnder, pidsInNetns } from '../../core/netns.js';
import { parseToken } from '../../core/auth/tokens.js';
import { unseal } from '../../core/auth/seal.js';

const HELPERS = resolve(import.meta.dirname, '..', 'helpers');
const MESHD = resolve(import.meta.dirname, '..', '..', 'bin', 'meshd.js');
const NATS = ['nats://172.30.0.11:4222'];

interface Creds {
  user: string;
  password: string;
}
interface Reply {
  ok: boolean;
  result?: unknown;
  error?: { name: string; message: string };
}
interface NodeView {
  ID: string;
  Spec: { Labels: Record<string, string>; Role: string };
  Description: { Hostname: string; Engine: { Labels: Record<string, string> } };
}

/**
 * Node identity (issue 12, item 3) and tokens off command lines (item 4) on a 1-manager,
 * 2-worker dev cluster whose every meshd reports `--label zone=eu --label disk=ssd`.
 */
describe('node identity, manager-owned labels, no secrets in argv', () => {
  let c: DevCluster;
  let dir: string;
  let underlay: string;
  let ids: Record<string, string>;
  let workerToken: string;
  const extra: ChildProcess[] = [];

  /** One request from the underlay, as `creds` or without credentials; the manager's reply. */
  const ask = async (subject: string, payload: unknown, creds?: Creds): Promise<Reply> => {
    const arg = JSON.stringify({ servers: NATS, subject, payload, ...(creds ? { user: creds.user, pass: creds.password } : {}) });
    const res = await execa('nsenter', [`--net=${underlay}`, process.execPath, join(HELPERS, 'nats-reply.mjs'), arg], { timeout: 60_000 });
    const out = JSON.parse(String(res.stdout)) as { reply?: Reply; error?: string; connect?: string };
    if (!out.reply) throw new Error(`no reply to ${subject}: ${out.error ?? out.connect}`);
    return out.reply;
  };
  const credsOf = async (node: string) => JSON.parse(await readFile(join(c.nodeDir(node), 'state', 'node.creds'), 'utf8')) as Creds;
  const inspect = async (node: string) => (JSON.parse(await c.ok(['node', 'inspect', node])) as NodeView[])[0]!;
  const joinAs = (nodeId: string, hostname: string, passwordHash: string, currentPassword?: string) =>
    ask('mesh.join.request', { token: workerToken, role: 'worker', nodeId, hostname, passwordHash, ...(currentPassword !== undefined ? { currentPassword } : {}) });
  const runningOn = async (svc: string) =>
    (await c.list<TaskRow>(['service', 'ps', svc])).filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running')).map((t) => t.Node).sort();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-identity-'));
    c = await DevCluster.up({ nodes: 3, managers: 1, meshdArgs: ['--label', 'zone=eu', '--label', 'disk=ssd'] });
    underlay = join(c.dir, 'netns', 'underlay');
    const idOf = async (node: string) => (await readFile(join(c.nodeDir(node), 'state', 'node-id'), 'utf8')).trim();
    ids = { 'node-1': await idOf('node-1'), 'node-2': await idOf('node-2'), 'node-3': await idOf('node-3') };
    workerToken = (await c.ok(['cluster', 'join-token', 'worker'])).trim();
  });
  afterAll(async () => {
    for (const p of extra) if (p.pid && p.exitCode === null) process.kill(p.pid, 'SIGKILL');
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("refuses a join under an existing node id without that node's password or with a wrong one, and admits the right proof", async () => {
    const creds3 = await credsOf('node-3');
    const wrong = 'not-the-password-0123456789';
    const noProof = await joinAs(ids['node-3']!, 'intruder', await bcrypt.hash('mine', 4));
    expect(noProof).toEqual({ ok: false, error: expect.objectContaining({ name: 'AuthError', message: `join refused: node id ${ids['node-3']} is already in the cluster (node-3); joining under an existing id needs that node's current credentials` }) });
    const wrongProof = await joinAs(ids['node-3']!, 'intruder', await bcrypt.hash('mine', 4), wrong);
    expect(wrongProof.error?.message).toBe(`join refused: wrong credentials for existing node ${ids['node-3']} (node-3)`);
    const manager = await joinAs(ids['node-1']!, 'intruder', await bcrypt.hash('mine', 4), wrong);
    expect(manager.error?.message).toBe(`join refused: node id ${ids['node-1']} is already in the cluster (node-1) and has no worker credentials to prove; it cannot be taken over`);
    // node-3's credentials were not replaced: it still connects and stays Ready
    expect((await ask('mesh.register.' + ids['node-3'], { id: ids['node-3'], hostname: 'node-3', role: 'worker', runsTasks: true, addr: '172.30.0.13', labels: { zone: 'eu', disk: 'ssd' } }, creds3)).ok).toBe(true);

    // The right proof (node-3's own password, re-hashed): admitted, the grant names node-3's user.
    const proven = await joinAs(ids['node-3']!, 'node-3', await bcrypt.hash(creds3.password, 4), creds3.password);
    expect(proven.ok).toBe(true);
    const grant = JSON.parse(unseal(parseToken(workerToken).secret, (proven.result as { sealed: string }).sealed)) as { user: string };
    expect(grant.user).toBe(`node-${ids['node-3']}`);
    expect((await ask('mesh.register.' + ids['node-3'], { id: ids['node-3'], hostname: 'node-3', role: 'worker', runsTasks: true, addr: '172.30.0.13', labels: { zone: 'eu', disk: 'ssd' } }, creds3)).ok).toBe(true);

    const log = await c.meshdLog('node-1');
    expect(log).toMatch(/WARN join refused .*node=intruder .*role=worker reason="wrong credentials for existing node/);
    expect(log).not.toContain(wrong);
    expect(log).not.toContain(creds3.password);
    expect((await c.list<{ Hostname: string; Status: string }>(['node', 'ls'])).map((n) => `${n.Hostname}=${n.Status}`)).toEqual(['node-1=Ready', 'node-2=Ready', 'node-3=Ready']);
  }, 120_000);

  it("refuses meshd joining with a worker token under another node's id (its node-id file copied)", async () => {
    const state = join(dir, 'copycat-state');
    await mkdir(state, { recursive: true });
    await writeFile(join(state, 'node-id'), `${ids['node-2']}\n`);
    const res = await execa(
      'nsenter',
      [`--net=${join(c.dir, 'netns', 'node-3')}`, process.execPath, MESHD, '--role', 'worker', '--node-name', 'copycat', '--advertise-addr', '172.30.0.13', '--state-dir', state, '--run-dir', join(dir, 'copycat-run'), '--join', '172.30.0.11'],
      { reject: false, timeout: 60_000, env: { MESHD_JOIN_TOKEN: workerToken } },
    );
    expect(res.exitCode).toBe(1);
    expect(String(res.stderr)).toBe(`meshd: join refused: node id ${ids['node-2']} is already in the cluster (node-2); joining under an existing id needs that node's current credentials`);
    expect((await stat(join(state, 'node.creds')).catch(() => undefined))).toBeUndefined();
  }, 90_000);

  it('keeps node labels for managers: self-reported labels are engine labels, constraints follow node update', async () => {
    const before = await inspect('node-2');
    expect([before.Spec.Role, before.Spec.Labels, before.Description.Engine.Labels]).toEqual(['worker', {}, { zone: 'eu', disk: 'ssd' }]);
    const stack = join(dir, 'placed.yml');
    await writeFile(stack, [
      'services:',
      '  pinned:',
      '    command: ["sh", "-c", "exec sleep 3600"]',
      '    deploy: {replicas: 1, placement: {constraints: ["node.labels.zone == eu"]}}',
      '  engine:',
      '    command: ["sh", "-c", "exec sleep 3600"]',
      '    deploy: {replicas: 2, placement: {constraints: ["engine.labels.disk == ssd", "node.role == worker"]}}',
      '',
    ].join('\n'));
    await c.ok(['stack', 'deploy', '--detach', '-c', stack, 'placed']);
    // Every node says zone=eu about itself; no manager said so: engine.labels place, node.labels do not.
    expect(await waitFor('engine replicas on both workers', async () => ((await runningOn('placed_engine')).join() === 'node-2,node-3' ? true : undefined))).toBe(true);
    expect(await c.list<TaskRow>(['service', 'ps', 'placed_pinned'])).toEqual([]);

    expect((await c.ok(['node', 'update', '--label-add', 'zone=eu', 'node-3'])).trim()).toBe(ids['node-3']);
    expect(await waitFor('pinned on node-3', async () => ((await runningOn('placed_pinned')).join() === 'node-3' ? true : undefined))).toBe(true);
    await c.ok(['node', 'update', '--label-rm', 'zone', 'node-3']);
    await c.ok(['node', 'update', '--label-add', 'zone=eu', '--label-add', 'rack=r1', ids['node-2']!.slice(0, 12)]);
    expect(await waitFor('pinned moved to node-2', async () => ((await runningOn('placed_pinned')).join() === 'node-2' ? true : undefined))).toBe(true);
    expect((await inspect('node-3')).Spec.Labels).toEqual({});

    // node-2 re-registers with its own credentials claiming the manager role and other labels.
    const forged = await ask(`mesh.register.${ids['node-2']}`, { id: ids['node-2'], hostname: 'node-2', role: 'manager', runsTasks: true, addr: '172.30.0.12', labels: { zone: 'us', owner: 'me' } }, await credsOf('node-2'));
    expect(forged.ok).toBe(true);
    const after = await inspect('node-2');
    expect([after.Spec.Role, after.Spec.Labels, after.Description.Engine.Labels]).toEqual(['worker', { zone: 'eu', rack: 'r1' }, { zone: 'us', owner: 'me' }]);
    expect((await c.list<{ Hostname: string; Role: string }>(['node', 'ls'])).map((n) => `${n.Hostname}=${n.Role}`)).toEqual(['node-1=manager', 'node-2=worker', 'node-3=worker']);
    expect(await c.meshdLog('node-1')).toMatch(/WARN node announced a role it does not hold; registered as worker .*announced=manager/);
    expect(await runningOn('placed_pinned')).toEqual(['node-2']);
  }, 180_000);

  it('refuses bad node updates with a clear error and changes nothing', async () => {
    const cases: [string[], string][] = [
      [['--label-rm', 'nope', 'node-2'], 'meshctl: --label-rm: the node has no label nope'],
      [['--label-add', 'zone=x', 'nosuch'], 'meshctl: node nosuch not found'],
      [['--label-add', 'bad key=x', 'node-2'], 'meshctl: --label-add: label key "bad key" must be 1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit'],
      [['node-2'], 'meshctl: node update: nothing to change (use --availability active|pause|drain, --label-add KEY=VALUE or --label-rm KEY)'],
      [['--label-add', 'zone=x'], 'meshctl: node update: exactly one NODE argument is required'],
    ];
    for (const [args, err] of cases) {
      const res = await c.meshctl(['node', 'update', ...args]);
      expect({ args, code: res.code, stderr: res.stderr.trim() }).toEqual({ args, code: 1, stderr: err });
    }
    expect((await inspect('node-2')).Spec.Labels).toEqual({ zone: 'eu', rack: 'r1' });
  }, 120_000);

  it('starts no process in the cluster with a join token or a password in its argv', async () => {
    const secrets = JSON.parse(await readFile(join(c.nodeDir('node-1'), 'state', 'cluster-secrets.json'), 'utf8')) as Record<string, unknown>;
    const managerToken = (await c.ok(['cluster', 'join-token', 'manager'])).trim();
    const words = [
      workerToken,
      managerToken,
      ...['workerSecret', 'managerSecret', 'managerPassword', 'adminPassword', 'routePassword'].map((k) => String(secrets[k])),
      (await credsOf('node-2')).password,
      (await credsOf('node-3')).password,
    ];
    for (const w of words) expect(w.length).toBeGreaterThanOrEqual(20);
    // dev handed the workers their token in a file only root reads
    const tokenFile = join(c.nodeDir('node-2'), 'state', 'join-token');
    expect((await readFile(tokenFile, 'utf8')).trim()).toBe(workerToken);
    expect(((await stat(tokenFile)).mode & 0o777).toString(8)).toBe('600');

    // A control that must be caught: a process in node-3's namespace with the token in its argv.
    const control = spawn('nsenter', [`--net=${join(c.dir, 'netns', 'node-3')}`, 'sh', '-c', 'sleep 600', workerToken], { stdio: 'ignore' });
    extra.push(control);
    await waitFor('control process in node-3', async () => ((await readFile(`/proc/${control.pid}/cmdline`, 'utf8').catch(() => '')).includes(workerToken) ? true : undefined), 10_000, 50);

    const seen: { pid: number; argv: string }[] = [];
    for (const pid of await pidsInNetns(await netnsMountsUnder(c.dir))) {
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
      if (argv) seen.push({ pid, argv });
    }
    const leaks = seen.filter((p) => words.some((w) => p.argv.includes(w))).map((p) => p.pid);
    expect(leaks).toEqual([control.pid]);
    // every kind of process was looked at: three meshd, the nats-server, tasks
    expect(seen.filter((p) => p.argv.includes('bin/meshd.js')).length).toBe(3);
    expect(seen.some((p) => /nats-server -c /.test(p.argv))).toBe(true);
    expect(seen.filter((p) => p.argv.includes('sleep 3600')).length).toBeGreaterThanOrEqual(3);
    process.kill(control.pid!, 'SIGKILL');
  });
});
