/**
 * Node operations, the pure parts: `node update --availability` (checked, kept across
 * re-registration) and the refusals of `node rm`.
 */
import { describe, expect, it } from 'vitest';
import type { NodeRecord } from '../../core/model.js';
import { ValidationError } from '../../core/errors.js';
import { checkAs } from '../../core/wire/decode.js';
import * as W from '../../core/wire/schemas.js';
import { availabilityOf, checkNodeUpdate } from '../../manager/node-update.js';
import { removalRefusal } from '../../manager/node-remove.js';
import { registrationRecord } from '../../manager/node-record.js';

function node(id: string, extra: Partial<NodeRecord> = {}): NodeRecord {
  return { id, hostname: `node-${id}`, role: 'worker', runsTasks: true, addr: '172.30.0.12', labels: {}, status: 'ready', statusMessage: '', joinedAt: '', updatedAt: '', ...extra };
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('node update --availability', () => {
  it('takes active, pause and drain, alone or with label changes', () => {
    expect(checkNodeUpdate({ node: 'n', availability: 'drain' })).toEqual({ node: 'n', add: {}, rm: [], availability: 'drain' });
    expect(checkNodeUpdate({ node: 'n', availability: 'pause', add: { a: 'b' } })).toEqual({ node: 'n', add: { a: 'b' }, rm: [], availability: 'pause' });
    expect(availabilityOf('active')).toBe('active');
  });

  it('refuses any other value with an error naming the flag', () => {
    expect(problemsOf(() => availabilityOf('drained'))).toEqual(['--availability: must be active, pause or drain, not "drained"']);
    expect(problemsOf(() => checkNodeUpdate({ node: 'n', availability: 'Drain' }))).toEqual(['--availability: must be active, pause or drain, not "Drain"']);
    const wire = checkAs(W.NodeUpdateRequest, { node: 'n', availability: 'off' });
    expect(wire.ok ? 'accepted' : wire.error.reason).toMatch(/availability.*--availability: must be active, pause or drain/);
  });

  it('is kept when the node registers again, like node labels', () => {
    const held = node('w1', { availability: 'drain', labels: { zone: 'eu' }, engineLabels: {}, status: 'down' });
    const announced = { id: 'w1', hostname: 'node-w1', role: 'worker' as const, runsTasks: true, addr: '172.30.0.12', labels: {} };
    const { record } = registrationRecord({ held, announced, joinedAsWorker: true, now: 't' });
    expect([record.availability, record.labels, record.status]).toEqual(['drain', { zone: 'eu' }, 'ready']);
    expect(registrationRecord({ announced, joinedAsWorker: true, now: 't' }).record.availability).toBeUndefined();
  });
});

describe('node rm: refusals', () => {
  const servedBy = 'm1';

  it('removes a down worker, and a ready one only with --force', () => {
    expect(removalRefusal(node('w1', { status: 'down' }), { force: false, servedBy })).toBeUndefined();
    expect(removalRefusal(node('w1'), { force: false, servedBy })).toBe("node node-w1 is not down and can't be removed; use --force to remove it anyway (its connection ends and its tasks move)");
    expect(removalRefusal(node('w1'), { force: true, servedBy })).toBeUndefined();
  });

  it('never removes a manager, saying why, even with --force or when it is down', () => {
    for (const n of [node('m2', { role: 'manager' }), node('m2', { role: 'manager', status: 'down' })]) {
      expect(removalRefusal(n, { force: true, servedBy })).toMatch(/^node node-m2 is a manager and can't be removed: it holds the cluster state .*meshd has no demotion$/);
    }
  });

  it('never removes the node serving the request', () => {
    expect(removalRefusal(node('m1', { role: 'manager' }), { force: true, servedBy })).toMatch(/^node node-m1 is a manager/);
    // A record with a stale role: still not the node answering.
    expect(removalRefusal(node('m1', { status: 'down' }), { force: true, servedBy })).toBe('node node-m1 is serving this request and cannot remove itself');
  });

  it('checks the request from the wire: --force defaults to false', () => {
    const r = checkAs(W.NodeRmRequest, { node: 'node-2' });
    expect(r.ok && r.value).toEqual({ node: 'node-2', force: false });
    expect(checkAs(W.NodeRmRequest, { node: '' }).ok).toBe(false);
  });
});
