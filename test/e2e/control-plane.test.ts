import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCluster, waitFor, type ServiceRow, type TaskRow } from '../helpers/dev.js';

/**
 * The control plane end to end: a 3-node dev cluster (1 manager + 2 workers, real meshd and
 * nats-server in their own namespaces) driven only through meshctl.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('control plane on a 3-node dev cluster', () => {
  let c: DevCluster;
  let dir: string;
  const file = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };
  const running = async (svc: string) => (await c.list<TaskRow>(['service', 'ps', svc])).filter((t) => t.DesiredState === 'Running');
  const allRunning = (rows: TaskRow[], n: number) => rows.length === n && rows.every((t) => t.CurrentState.startsWith('Running'));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-stacks-'));
    c = await DevCluster.up({ nodes: 3, managers: 1 });
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists every node Ready with its role and address', async () => {
    const nodes = await c.list<{ Hostname: string; Role: string; Status: string; Addr: string }>(['node', 'ls']);
    expect(nodes.map((n) => [n.Hostname, n.Role, n.Status, n.Addr])).toEqual([
      ['node-1', 'manager', 'Ready', '172.30.0.11'],
      ['node-2', 'worker', 'Ready', '172.30.0.12'],
      ['node-3', 'worker', 'Ready', '172.30.0.13'],
    ]);
  });

  it('deploys a stack whose replicas spread over all nodes, and a global service on each node', async () => {
    const out = await c.ok(['stack', 'deploy', '-c', 'stack-examples/web.yml', 'web']);
    expect(out).toContain('stack web: every task is running');
    const api = await running('web_api');
    expect(allRunning(api, 3)).toBe(true);
    expect(new Set(api.map((t) => t.Node))).toEqual(new Set(['node-1', 'node-2', 'node-3']));
    expect(api.map((t) => t.Name).sort()).toEqual(['web_api.1', 'web_api.2', 'web_api.3']);
    for (const t of api) expect(t.Addresses.map((a) => a.Network).sort()).toEqual(['ingress', 'web_backend']);
    const ticker = await running('web_ticker');
    expect(allRunning(ticker, 3)).toBe(true);
    expect(ticker.map((t) => t.Node).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    const services = await c.list<ServiceRow>(['service', 'ls']);
    expect(services.map((s) => [s.Name, s.Mode, s.Replicas, s.Ports])).toEqual([
      ['web_api', 'replicated', '3/3', '*:8080->8080/tcp'],
      ['web_ticker', 'global', '3/3', ''],
    ]);
  });

  it('runs each task in its own sandbox: hostname, hosts file, environment', async () => {
    const out = await c.ok(['task', 'exec', 'web_api.2', '--', 'sh', '-c', 'hostname; grep web_api /etc/hosts; echo $MESH_TASK_SLOT $MESH_SERVICE_NAME $MESH_NODE_NAME']);
    const [host, backendLine, ingressLine, env] = out.trim().split('\n');
    expect(host).toBe('web_api.2');
    const [task] = (await running('web_api')).filter((t) => t.Name === 'web_api.2');
    const addr = (net: string) => task!.Addresses.find((a) => a.Network === net)!.Addr.split('/')[0];
    expect([backendLine, ingressLine]).toEqual([`${addr('web_backend')}\tweb_api.2`, `${addr('ingress')}\tweb_api.2`]);
    const node = (await running('web_api')).find((t) => t.Name === 'web_api.2')!.Node;
    expect(env).toBe(`2 web_api ${node}`);
    const logs = await c.ok(['service', 'logs', '--tail', '1', 'web_ticker']);
    expect(logs).toMatch(/web_ticker\.\w+\.\w+@node-\d {4}\| tick from web_ticker\./);
  });

  it('shows VIPs in service inspect as Docker does', async () => {
    const [svc] = JSON.parse(await c.ok(['service', 'inspect', 'web_api'])) as { Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] } }[];
    const nets = await c.list<{ ID: string; Name: string }>(['network', 'ls']);
    const backend = nets.find((n) => n.Name === 'web_backend')!;
    const vip = svc!.Endpoint.VirtualIPs.find((v) => v.NetworkID.startsWith(backend.ID));
    expect(vip?.Addr).toMatch(/^10\.\d+\.\d+\.\d+\/24$/);
    expect(svc!.Endpoint.VirtualIPs).toHaveLength(2);
  });

  it('redeploys only the difference: changed service updated, removed deleted, untouched left running', async () => {
    const v1 = await file(
      'diff1.yml',
      `services:
  keep:
    command: ["sleep", "1000"]
    deploy: { replicas: 2 }
  change:
    command: ["sleep", "1000"]
    environment: { VERSION: "1" }
  drop:
    command: ["sleep", "1000"]
`,
    );
    await c.ok(['stack', 'deploy', '-c', v1, 'diff']);
    const keepBefore = (await running('diff_keep')).map((t) => t.ID).sort();
    const changeBefore = (await running('diff_change')).map((t) => t.ID);
    const v2 = await file(
      'diff2.yml',
      `services:
  keep:
    command: ["sleep", "1000"]
    deploy: { replicas: 2 }
  change:
    command: ["sleep", "1000"]
    environment: { VERSION: "2" }
`,
    );
    const out = await c.ok(['stack', 'deploy', '-c', v2, 'diff']);
    expect(out).toContain('Updating service diff_change');
    expect(out).toContain('Removing service diff_drop');
    expect(out).not.toMatch(/(Creating|Updating|Removing) service diff_keep/);
    expect((await running('diff_keep')).map((t) => t.ID).sort()).toEqual(keepBefore);
    const changeAfter = await waitFor('diff_change replaced', async () => {
      const rows = await running('diff_change');
      return allRunning(rows, 1) && rows[0]!.ID !== changeBefore[0] ? rows : undefined;
    });
    const env = await c.ok(['task', 'exec', changeAfter[0]!.ID, '--', 'sh', '-c', 'echo $VERSION']);
    expect(env.trim()).toBe('2');
    const services = (await c.list<ServiceRow>(['stack', 'services', 'diff'])).map((s) => s.Name);
    expect(services).toEqual(['diff_change', 'diff_keep']);
    await c.ok(['stack', 'rm', 'diff']);
  });

  it('places by constraints: hostname and role', async () => {
    const f = await file(
      'place.yml',
      `services:
  pinned:
    command: ["sleep", "1000"]
    deploy:
      replicas: 3
      placement: { constraints: ["node.hostname == node-2"] }
  workers:
    command: ["sleep", "1000"]
    deploy:
      mode: global
      placement: { constraints: ["node.role != manager"] }
`,
    );
    await c.ok(['stack', 'deploy', '-c', f, 'place']);
    expect((await running('place_pinned')).map((t) => t.Node)).toEqual(['node-2', 'node-2', 'node-2']);
    expect((await running('place_workers')).map((t) => t.Node).sort()).toEqual(['node-2', 'node-3']);
    await c.ok(['stack', 'rm', 'place']);
  });

  it('scales 3 -> 5 -> 1 with spread', async () => {
    await c.ok(['service', 'scale', 'web_api=5']);
    const five = await waitFor('5 replicas', async () => {
      const rows = await running('web_api');
      return allRunning(rows, 5) ? rows : undefined;
    });
    const perNode = five.reduce<Record<string, number>>((m, t) => ({ ...m, [t.Node]: (m[t.Node] ?? 0) + 1 }), {});
    expect(Object.values(perNode).sort()).toEqual([1, 2, 2]);
    await c.ok(['service', 'scale', 'web_api=1']);
    const one = await waitFor('1 replica', async () => {
      const rows = await running('web_api');
      return allRunning(rows, 1) ? rows : undefined;
    });
    expect(one[0]!.Name).toBe('web_api.1');
    await c.ok(['service', 'scale', 'web_api=3']);
  });

  it('restarts a task killed by hand per its restart policy, up to max_attempts', async () => {
    const f = await file(
      'restart.yml',
      `services:
  flaky:
    command: ["sleep", "1000"]
    deploy:
      placement: { constraints: ["node.hostname == node-3"] }
      restart_policy: { condition: on-failure, delay: 200ms, max_attempts: 2 }
  once:
    command: ["sleep", "1000"]
    deploy:
      placement: { constraints: ["node.hostname == node-3"] }
      restart_policy: { condition: none }
`,
    );
    await c.ok(['stack', 'deploy', '-c', f, 'rs']);
    const [flaky] = await running('rs_flaky');
    for (let attempt = 1; attempt <= 3; attempt++) {
      const pid = await c.taskPid('node-3', flaky!.ID);
      process.kill(pid, 'SIGKILL');
      if (attempt <= 2) {
        await waitFor(`restart ${attempt}`, async () => {
          const [t] = await running('rs_flaky');
          return t && t.Restarts === attempt && t.CurrentState.startsWith('Running') && (await c.taskPid('node-3', flaky!.ID)) !== pid ? t : undefined;
        });
      }
    }
    const failed = await waitFor('flaky failed for good', async () => {
      const [t] = await running('rs_flaky');
      return t?.CurrentState.startsWith('Failed') ? t : undefined;
    });
    expect(failed.ID).toBe(flaky!.ID);
    expect(failed.Error).toBe('signal SIGKILL; restart policy max_attempts=2 reached');
    const [once] = await running('rs_once');
    process.kill(await c.taskPid('node-3', once!.ID), 'SIGKILL');
    const gone = await waitFor('once failed', async () => {
      const [t] = await running('rs_once');
      return t?.CurrentState.startsWith('Failed') ? t : undefined;
    });
    expect(gone.Restarts).toBe(0);
    await c.ok(['stack', 'rm', 'rs']);
  });

  it('marks a node whose meshd died down within 3 s and reschedules its tasks', async () => {
    const before = await running('web_api');
    const onNode3 = before.filter((t) => t.Node === 'node-3');
    expect(onNode3).not.toHaveLength(0);
    const stalePids = await Promise.all(onNode3.map((t) => c.taskPid('node-3', t.ID)));
    const killedAt = Date.now();
    await c.ok(['dev', 'kill', 'node-3']);
    const rows = await waitFor('node-3 tasks rescheduled', async () => {
      const r = await running('web_api');
      return allRunning(r, 3) && r.every((t) => t.Node !== 'node-3') ? r : undefined;
    });
    expect(rows.map((t) => t.Name).sort()).toEqual(['web_api.1', 'web_api.2', 'web_api.3']);
    // The manager's own log says when it saw the node go down and re-created the tasks.
    const log = await c.meshdLog('node-1');
    const downLine = log.split('\n').find((l) => l.includes('INFO node down') && l.includes('node=node-3'));
    expect(downLine).toBeDefined();
    const downAt = Date.parse(downLine!.split(' ')[0]!);
    expect(downAt - killedAt).toBeLessThanOrEqual(3_000);
    const nodes = await c.list<{ Hostname: string; Status: string }>(['node', 'ls']);
    expect(nodes.find((n) => n.Hostname === 'node-3')?.Status).toBe('Down');
    // Back up: it rejoins, and the tasks it ran before the outage are stopped (they were replaced).
    await c.ok(['dev', 'start', 'node-3']);
    await waitFor('node-3 ready', async () => {
      const n = await c.list<{ Hostname: string; Status: string }>(['node', 'ls']);
      return n.find((x) => x.Hostname === 'node-3')?.Status === 'Ready' ? true : undefined;
    });
    // Its tasks kept running through the outage (live restore) but were replaced meanwhile:
    // back in contact, node-3 stops them.
    await waitFor('stale tasks on node-3 stopped', async () => (stalePids.every((pid) => !alive(pid)) ? true : undefined));
  });

  it('refuses a port already published by another stack, changing nothing', async () => {
    const f = await file('conflict.yml', `services:\n  clash:\n    command: ["sleep", "1000"]\n    ports: ["8080:80"]\n`);
    const before = await c.ok(['service', 'ls', '--format', 'json']);
    const res = await c.meshctl(['stack', 'deploy', '-c', f, 'other']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`${f}: services.clash.ports[0]: port 8080/tcp is already published by service web_api`);
    expect(await c.ok(['service', 'ls', '--format', 'json'])).toBe(before);
    expect((await c.list(['network', 'ls'])).map((n) => n.Name)).not.toContain('other_default');
  });
});
