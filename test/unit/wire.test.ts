import { describe, expect, it } from 'vitest';
import * as W from '../../core/wire/schemas.js';
import { decodeAs, encodeAs, tryDecodeAs, WireDecodeError } from '../../core/wire/decode.js';
import { RateLimitedReporter } from '../../core/wire/reporter.js';
import { SenderLimiter } from '../../core/wire/limiter.js';
import type { Logger } from '../../core/log.js';
import type { NodeRecord, ServiceRecord, TaskStatus } from '../../core/model.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const json = (v: unknown) => bytes(JSON.stringify(v));

const node: NodeRecord = {
  id: 'a1b2c3d4e5f6a1b2c3d4e5f6a',
  hostname: 'node-1',
  role: 'worker',
  runsTasks: true,
  addr: '172.30.0.11',
  labels: { zone: 'a' },
  status: 'ready',
  statusMessage: '',
  joinedAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

const service: ServiceRecord = {
  id: 'svc0000000000000000000001',
  name: 'web_api',
  stack: 'web',
  spec: {
    name: 'api',
    command: ['sh', '-c', 'sleep 1000'],
    environment: { A: '1' },
    mode: 'replicated',
    replicas: 3,
    endpointMode: 'vip',
    constraints: [{ key: 'node.labels.zone', op: '==', value: 'a' }],
    restartPolicy: { condition: 'any', delayMs: 5000, maxAttempts: 0 },
    ports: [{ protocol: 'tcp', target: 80, published: 8080, mode: 'ingress' }],
    networks: [{ name: 'backend', aliases: ['api'] }],
    healthcheck: { test: { type: 'cmd', argv: ['true'] }, intervalMs: 1000, timeoutMs: 500, retries: 3, startPeriodMs: 0 },
  },
  networks: [{ networkId: 'net0000000000000000000001', aliases: ['api'] }],
  version: 1,
  fwmark: 256,
  endpoint: { vips: [{ networkId: 'net0000000000000000000001', addr: '10.0.1.2/24' }], ports: [{ protocol: 'tcp', target: 80, published: 8080, mode: 'ingress' }] },
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (m, f) => void lines.push(`${m} ${JSON.stringify(f)}`),
    error: () => undefined,
    child: () => log,
  };
  return { log, lines };
}

describe('wire schemas and decoder', () => {
  it('round-trips valid records unchanged', () => {
    expect(decodeAs(W.NodeRecord, encodeAs(W.NodeRecord, node))).toEqual(node);
    expect(decodeAs(W.ServiceRecord, encodeAs(W.ServiceRecord, service))).toEqual(service);
  });

  it('refuses bytes that are not JSON with a typed error', () => {
    const r = tryDecodeAs(W.NodeAnnouncement, bytes('not json{'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(WireDecodeError);
    expect(r.error.reason).toMatch(/^not JSON/);
    expect(() => decodeAs(W.NodeAnnouncement, bytes('not json{'))).toThrow(WireDecodeError);
  });

  it('names the first bad field by its path', () => {
    const bad = { ...service, spec: { ...service.spec, ports: [{ protocol: 'tcp', target: 'eighty', mode: 'ingress' }] } };
    const r = tryDecodeAs(W.ServiceRecord, json(bad));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.path).toBe('spec.ports[0].target');
    const missing = tryDecodeAs(W.TaskStatus, json({ taskId: 'x', nodeId: 'y', state: 'running', message: '', updatedAt: 'now' }));
    expect(!missing.ok && missing.error.path).toBe('restarts');
  });

  it.each([
    ['null', 'null'],
    ['an array', '[1,2]'],
    ['a string', '"hello"'],
    ['a number', '42'],
    ['wrong enum', JSON.stringify({ ...node, status: 'exploded' })],
    ['id with a subject wildcard', JSON.stringify({ ...node, id: 'a.>' })],
    ['deeply nested junk', '{"labels":' + '['.repeat(5000) + ']'.repeat(5000) + '}'],
    ['too many labels', JSON.stringify({ ...node, labels: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'])) })],
    ['an overlong status message', JSON.stringify({ ...node, statusMessage: 'x'.repeat(5000) })],
    ['a float where an int goes', JSON.stringify({ taskId: 't', nodeId: 'n', state: 'running', message: '', restarts: 1.5, updatedAt: 'x' })],
  ])('refuses %s', (_what, text) => {
    expect(tryDecodeAs(W.NodeRecord, bytes(text)).ok).toBe(false);
  });

  it('refuses a message over maxBytes before parsing it', () => {
    const r = tryDecodeAs(W.NodeAnnouncement, bytes('x'.repeat(1000)), { maxBytes: 100 });
    expect(!r.ok && r.error.reason).toBe('message is 1000 bytes; the limit is 100');
  });

  it('strips unknown keys and refuses to encode an invalid record', () => {
    expect(decodeAs(W.LbAddress, json({ networkId: 'n1', nodeId: 'x1', addr: '10.0.0.2/24', extra: 1 }))).toEqual({ networkId: 'n1', nodeId: 'x1', addr: '10.0.0.2/24' });
    const status = { taskId: 't1', nodeId: 'n1', state: 'nope', message: '', restarts: 0, updatedAt: 'x' } as unknown as TaskStatus;
    expect(() => encodeAs(W.TaskStatus, status)).toThrow(/state/);
  });
});

describe('RateLimitedReporter', () => {
  it('logs once per sender and place per interval, then counts what it dropped', () => {
    let now = 0;
    const { log, lines } = captureLog();
    const r = new RateLimitedReporter({ log, intervalMs: 60_000, now: () => now });
    expect(r.report({ sender: 'n1', where: 'mesh.hb.n1', reason: 'not JSON' })).toBe(true);
    for (let i = 0; i < 100; i++) expect(r.report({ sender: 'n1', where: 'mesh.hb.n1', reason: 'not JSON' })).toBe(false);
    expect(r.report({ sender: 'n2', where: 'mesh.hb.n2', reason: 'not JSON' })).toBe(true);
    now = 60_001;
    expect(r.report({ sender: 'n1', where: 'mesh.hb.n1', reason: 'not JSON' })).toBe(true);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('"sender":"n1"');
    expect(lines[0]).toContain('"where":"mesh.hb.n1"');
    expect(lines[0]).toContain('"reason":"not JSON"');
    expect(lines[2]).toContain('"suppressed":100');
  });

  it('logs a sender writing many bad keys into one bucket once, naming the first key', () => {
    const { log, lines } = captureLog();
    const r = new RateLimitedReporter({ log });
    for (let i = 0; i < 10_000; i++) r.report({ sender: 'n1', where: `mesh_status/n1.junk${i}`, reason: 'bad' });
    r.report({ sender: 'n1', where: 'mesh_nodes/n1', reason: 'bad' });
    r.report({ sender: 'n2', where: 'mesh_status/n2.junk', reason: 'bad' });
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('"where":"mesh_status/n1.junk0"');
    expect(r.size).toBe(3);
  });

  it('remembers at most maxKeys senders and places', () => {
    const { log } = captureLog();
    const r = new RateLimitedReporter({ log, maxKeys: 50 });
    for (let i = 0; i < 10_000; i++) r.report({ sender: `n${i}`, where: `mesh.hb.n${i}`, reason: 'bad' });
    expect(r.size).toBe(50);
  });
});

describe('SenderLimiter', () => {
  it('lets a sender burst, then allows its rate; other senders are unaffected', () => {
    let now = 0;
    const l = new SenderLimiter({ perSecond: 10, burst: 20, now: () => now });
    let passed = 0;
    for (let i = 0; i < 10_000; i++) if (l.take('flooder')) passed++;
    expect(passed).toBe(20);
    expect(l.take('quiet')).toBe(true);
    now = 1_000;
    passed = 0;
    for (let i = 0; i < 10_000; i++) if (l.take('flooder')) passed++;
    expect(passed).toBe(10);
  });

  it('keeps at most maxSenders buckets, evicting idle ones first', () => {
    let now = 0;
    const l = new SenderLimiter({ perSecond: 1, burst: 2, maxSenders: 100, now: () => now });
    for (let i = 0; i < 100; i++) l.take(`s${i}`);
    expect(l.take('late')).toBe(false); // all 100 buckets are in use (not full)
    now = 10_000; // all refilled: idle
    expect(l.take('late')).toBe(true);
    expect(l.size).toBeLessThanOrEqual(100);
  });
});
