import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeRecord } from '../../core/model.js';
import { satisfies } from '../../core/placement.js';
import { parseConstraint } from '../../manager/stack/constraints.js';
import { applyLabelChanges, checkNodeUpdate, resolveNode } from '../../manager/node-update.js';
import { labelFlags } from '../../cli/commands/network-node.js';
import { parseMeshdFlags, type MeshdConfig } from '../../cli/meshd-flags.js';
import { ValidationError } from '../../core/errors.js';
import { registrationRecord } from '../../manager/node-record.js';
import type { NodeAnnouncement } from '../../manager/node-registry.js';

function node(id: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return { id, hostname: `host-${id}`, role: 'worker', runsTasks: true, addr: '172.30.0.12', labels: {}, status: 'ready', statusMessage: '', joinedAt: '', updatedAt: '', ...extra };
}

/** The problems a ValidationError carries (fails when `fn` throws anything else or nothing). */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('placement: node labels (managers) and engine labels (the node itself)', () => {
  const c = (text: string) => {
    const r = parseConstraint(text);
    if (!r.ok) throw new Error(JSON.stringify(r));
    return r.value;
  };

  it('parses engine.labels constraints as Docker does', () => {
    expect(c('engine.labels.ssd == true')).toEqual({ key: 'engine.labels.ssd', op: '==', value: 'true' });
    expect(parseConstraint('engine.ssd == true').ok).toBe(false);
  });

  it('matches node.labels only against manager-set labels, engine.labels only against self-reported ones', () => {
    const selfLabelled = node('a', { engineLabels: { zone: 'eu' } });
    const managerLabelled = node('b', { labels: { zone: 'eu' } });
    expect(satisfies(selfLabelled, [c('node.labels.zone == eu')])).toBe(false);
    expect(satisfies(managerLabelled, [c('node.labels.zone == eu')])).toBe(true);
    expect(satisfies(selfLabelled, [c('engine.labels.zone == eu')])).toBe(true);
    expect(satisfies(managerLabelled, [c('engine.labels.zone == eu')])).toBe(false);
    // != matches a missing label; records from before engine labels existed have none
    expect(satisfies(node('c'), [c('engine.labels.zone != eu')])).toBe(true);
  });

  it('never reads an inherited property as a label', () => {
    expect(satisfies(node('a'), [c('node.labels.constructor == x')])).toBe(false);
    expect(satisfies(node('a'), [c('node.labels.__proto__ != x')])).toBe(true);
  });
});

describe('registration: managers own role and node labels', () => {
  const announced = (extra: Partial<NodeAnnouncement> = {}): NodeAnnouncement => ({ id: 'w1', hostname: 'node-2', role: 'worker', runsTasks: true, addr: '172.30.0.12', labels: { zone: 'us' }, ...extra });

  it('records announced labels as engine labels; a new node has no node labels', () => {
    const { record } = registrationRecord({ announced: announced(), joinedAsWorker: true, now: 't1' });
    expect([record.role, record.labels, record.engineLabels, record.joinedAt]).toEqual(['worker', {}, { zone: 'us' }, 't1']);
  });

  it('keeps manager-set labels and joinedAt when the node registers again', () => {
    const held = node('w1', { labels: { zone: 'eu' }, engineLabels: { old: '1' }, joinedAt: 't0', status: 'down' });
    const { record } = registrationRecord({ held, announced: announced(), joinedAsWorker: true, now: 't1' });
    expect(record).toMatchObject({ labels: { zone: 'eu' }, engineLabels: { zone: 'us' }, joinedAt: 't0', updatedAt: 't1', status: 'ready' });
  });

  it('registers a node that joined with a worker token as a worker, whatever it announces', () => {
    const r = registrationRecord({ announced: announced({ role: 'manager' }), joinedAsWorker: true, now: 't' });
    expect([r.record.role, r.refusedRole]).toEqual(['worker', 'manager']);
    const m = registrationRecord({ announced: announced({ role: 'manager' }), joinedAsWorker: false, now: 't' });
    expect([m.record.role, m.refusedRole]).toEqual(['manager', undefined]);
  });

  it('turns the self-reported labels of a record from before engine labels into engine labels only', () => {
    const held = node('w1', { labels: { zone: 'eu' } });
    const r = registrationRecord({ held, announced: announced({ labels: { zone: 'eu' } }), joinedAsWorker: true, now: 't' });
    expect([r.record.labels, r.record.engineLabels, r.droppedLegacyLabels]).toEqual([{}, { zone: 'eu' }, { zone: 'eu' }]);
  });
});

describe('node update: labels', () => {
  it('adds, changes and removes labels; removals after additions', () => {
    expect(applyLabelChanges({ zone: 'eu', old: '1' }, { zone: 'us', ssd: 'true' }, ['old'])).toEqual({ zone: 'us', ssd: 'true' });
  });

  it('refuses removing a label the node does not have, or one also added', () => {
    expect(problemsOf(() => applyLabelChanges({}, {}, ['zone']))).toEqual(['--label-rm: the node has no label zone']);
    expect(problemsOf(() => applyLabelChanges({}, { zone: 'a' }, ['zone']))).toEqual(['--label-rm: label zone is also in --label-add']);
  });

  it('checks a request from the wire, naming every bad field', () => {
    expect(checkNodeUpdate({ node: 'node-2', add: { zone: 'eu' } })).toEqual({ node: 'node-2', add: { zone: 'eu' }, rm: [] });
    expect(problemsOf(() => checkNodeUpdate({ node: 'node-2', add: { 'bad key': 'x', ok: 'a\nb' }, rm: [''] }))).toEqual([
      '--label-add: label key "bad key" must be 1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit',
      '--label-add: label ok: the value must be a string of at most 256 characters without control characters',
      '--label-rm: label key "" must be 1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit',
    ]);
    expect(problemsOf(() => checkNodeUpdate({ add: [], rm: 'x' }))).toEqual([
      'node: a node id or hostname is required',
      '--label-add: must be an object of KEY: VALUE',
      '--label-rm: must be a list of keys',
    ]);
    expect(problemsOf(() => checkNodeUpdate({ node: 'n' }))).toEqual(['node update: nothing to change (use --availability active|pause|drain, --label-add KEY=VALUE or --label-rm KEY)']);
    expect(problemsOf(() => checkNodeUpdate({ node: 'n', add: { a: 5 } }))[0]).toMatch(/^--label-add: label a: the value must be a string/);
  });

  it('reads docker-style flags: K=V, K (empty value), values with =', () => {
    expect(labelFlags(['zone=eu', 'ssd', 'expr=a=b'], ['old'])).toEqual({ add: { zone: 'eu', ssd: '', expr: 'a=b' }, rm: ['old'] });
    expect(problemsOf(() => labelFlags(['=x'], []))).toEqual(['--label-add: expected KEY=VALUE, got "=x"']);
  });

  it('finds a node by id, hostname or unique id prefix, and says when it cannot', () => {
    const nodes = [node('abc123'), node('abd456'), node('xyz', { hostname: 'node-2' })];
    expect(resolveNode(nodes, 'node-2').id).toBe('xyz');
    expect(resolveNode(nodes, 'abc').id).toBe('abc123');
    expect(() => resolveNode(nodes, 'ab')).toThrow('node ab is ambiguous: abc123, abd456');
    expect(() => resolveNode(nodes, 'nope')).toThrow('node nope not found');
  });
});

describe('meshd: where the join token comes from', () => {
  let dir: string;
  const TOKEN = `MESHTKN-1-${'0'.repeat(32)}-${'a'.repeat(40)}`;
  const base = ['--role', 'worker', '--join', '172.30.0.11', '--node-name', 'n1'];
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseMeshdFlags([...base, ...argv], env) as MeshdConfig;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-token-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a token file, the environment, or (warned about by meshd) the flag', async () => {
    const file = join(dir, 'token');
    await writeFile(file, `${TOKEN}\n`, { mode: 0o600 });
    expect(parse(['--join-token-file', file])).toMatchObject({ joinToken: TOKEN, joinTokenFrom: 'file' });
    expect(parse([], { MESHD_JOIN_TOKEN: `${TOKEN}\n` })).toMatchObject({ joinToken: TOKEN, joinTokenFrom: 'env' });
    expect(parse(['--join-token', TOKEN])).toMatchObject({ joinToken: TOKEN, joinTokenFrom: 'flag' });
    const none = parse([]);
    expect([none.joinToken, none.joinTokenFrom]).toEqual([undefined, undefined]);
  });

  it('refuses two sources, an unreadable file and a malformed token, naming the source', async () => {
    const file = join(dir, 'token2');
    await writeFile(file, TOKEN, { mode: 0o600 });
    expect(problemsOf(() => parse(['--join-token', TOKEN], { MESHD_JOIN_TOKEN: TOKEN }))).toEqual(['--join-token, MESHD_JOIN_TOKEN: give the join token one way only']);
    expect(problemsOf(() => parse(['--join-token-file', file], { MESHD_JOIN_TOKEN: TOKEN }))).toEqual(['--join-token-file, MESHD_JOIN_TOKEN: give the join token one way only']);
    expect(problemsOf(() => parse(['--join-token-file', join(dir, 'missing')]))).toEqual([`--join-token-file: cannot read ${join(dir, 'missing')}: ENOENT`]);
    expect(problemsOf(() => parse([], { MESHD_JOIN_TOKEN: 'hello' }))[0]).toMatch(/^MESHD_JOIN_TOKEN: not a join token/);
    const bad = join(dir, 'bad');
    await writeFile(bad, 'hello');
    await chmod(bad, 0o600);
    expect(problemsOf(() => parse(['--join-token-file', bad]))[0]).toMatch(/^--join-token-file: not a join token/);
  });
});
