/**
 * A task's health against its `running` report, with a real process in a real sandbox: a health
 * check that passes before the task's ports are bound must neither make it a backend early nor be
 * lost when the task is then reported running (the IPVS lane saw a new replica stay `starting`
 * for 13 minutes: its first probe had passed before its `running` report, which said `starting`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceRecord, TaskRecord, TaskStatus } from '../../core/model.js';
import { createLogger } from '../../core/log.js';
import { RunPaths } from '../../worker/paths.js';
import { TaskSupervisor } from '../../worker/supervisor.js';
import { waitFor } from '../helpers/dev.js';

const BIND_AFTER_MS = 1_500;
const SERVER = `setTimeout(() => require('http').createServer((q, s) => s.end('ok')).listen(8080), ${BIND_AFTER_MS})`;

const service: ServiceRecord = {
  id: 'svc-health',
  name: 'h_web',
  stack: 'h',
  version: 1,
  createdAt: new Date().toISOString(),
  updatedAt: new Date().toISOString(),
  networks: [],
  endpoint: { vips: [], ports: [] },
  spec: {
    name: 'web',
    command: [process.execPath, '-e', SERVER],
    environment: {},
    mode: 'replicated',
    replicas: 1,
    endpointMode: 'vip',
    constraints: [],
    restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0 },
    ports: [{ protocol: 'tcp', target: 8080, mode: 'ingress' }],
    networks: [],
    // Probes every 100 ms and passes at once: its first pass comes long before the port is bound.
    healthcheck: { test: { type: 'shell', script: 'true' }, intervalMs: 100, timeoutMs: 5_000, retries: 1, startPeriodMs: 0 },
  },
};

const task: TaskRecord = {
  id: 'task-health-0001',
  serviceId: service.id,
  serviceName: service.name,
  slot: 1,
  name: 'h_web.1',
  nodeId: 'node-h',
  desiredState: 'running',
  specVersion: 1,
  addresses: [],
  createdAt: new Date().toISOString(),
};

describe('task supervisor: health and the running report (real process and sandbox)', () => {
  let dir: string;
  let supervisor: TaskSupervisor;
  const reports: (TaskStatus & { at: number })[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-supervisor-'));
    supervisor = new TaskSupervisor({
      paths: new RunPaths(dir),
      nodeId: 'node-h',
      nodeName: 'node-h',
      report: async (s) => void reports.push({ ...s, at: Date.now() }),
      log: createLogger({ level: 'error' }),
      stopGraceMs: 2_000,
      resolvConf: 'nameserver 127.0.0.1\n',
      masks: [dir],
      dnsAddr: '127.0.0.1',
      engine: { ok: false, reason: 'not needed here' },
    });
  });

  afterAll(async () => {
    await supervisor?.reconcile(new Map());
    await waitFor('the task stopped', async () => (reports.some((r) => r.state === 'shutdown') ? true : undefined), 10_000, 50);
    await rm(dir, { recursive: true, force: true });
  });

  it('reports running only once the port is bound, with the health its probes already found', async () => {
    const started = Date.now();
    await supervisor.reconcile(new Map([[task.id, { task, service }]]));
    await waitFor('a running report', async () => (reports.some((r) => r.state === 'running') ? true : undefined), 10_000, 50);
    // A few more probe intervals: nothing may take the health back.
    await new Promise((r) => setTimeout(r, 500));
    const running = reports.filter((r) => r.state === 'running');
    expect(running[0]!.at - started).toBeGreaterThanOrEqual(BIND_AFTER_MS);
    expect(running.map((r) => r.health)).toEqual(running.map(() => 'healthy'));
    expect(reports.at(-1)).toMatchObject({ state: 'running', health: 'healthy', message: '' });
  });
});
