import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCluster, waitFor, type ServiceRow, type TaskRow } from '../helpers/dev.js';

/** Three managers: their nats-servers form one cluster and the KV buckets are R3. */
describe('3 managers survive the loss of one', () => {
  let c: DevCluster;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-stacks-'));
    c = await DevCluster.up({ nodes: 3, managers: 3 });
  });
  afterAll(async () => {
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps all state and keeps deploying after a manager is killed', async () => {
    const nodes = await c.list<{ Hostname: string; Role: string }>(['node', 'ls']);
    expect(nodes.map((n) => n.Role)).toEqual(['manager', 'manager', 'manager']);
    const stack = join(dir, 'app.yml');
    await writeFile(stack, `services:\n  api:\n    command: ["sleep", "1000"]\n    deploy: { replicas: 3 }\n    ports: ["9000:80"]\n  db:\n    command: ["sleep", "1000"]\n`);
    await c.ok(['stack', 'deploy', '-c', stack, 'app']);
    const before = await c.list<ServiceRow>(['service', 'ls']);
    const inspectBefore = JSON.parse(await c.ok(['service', 'inspect', 'app_api'])) as unknown[];

    await c.ok(['dev', 'kill', 'node-1']);

    // The remaining two managers hold a quorum: reads and writes go on.
    const after = await waitFor('services listed by the surviving managers', async () => {
      const rows = await c.list<ServiceRow>(['service', 'ls']);
      return rows.length === 2 ? rows : undefined;
    }, 30_000, 500);
    expect(after.map((s) => [s.ID, s.Name, s.Ports])).toEqual(before.map((s) => [s.ID, s.Name, s.Ports]));
    const inspectAfter = JSON.parse(await c.ok(['service', 'inspect', 'app_api'])) as { Endpoint: unknown }[];
    expect(inspectAfter[0]!.Endpoint).toEqual((inspectBefore[0] as { Endpoint: unknown }).Endpoint);

    const second = join(dir, 'more.yml');
    await writeFile(second, `services:\n  web:\n    command: ["sleep", "1000"]\n    deploy: { replicas: 2 }\n`);
    await waitFor('a deploy accepted without node-1', async () => ((await c.meshctl(['stack', 'deploy', '--detach', '-c', second, 'more'])).code === 0 ? true : undefined), 30_000, 1000);

    // node-1's tasks move to the two live nodes; the new stack runs there too.
    const api = await waitFor('app_api running on node-2 and node-3 only', async () => {
      const rows = (await c.list<TaskRow>(['service', 'ps', 'app_api'])).filter((t) => t.DesiredState === 'Running');
      return rows.length === 3 && rows.every((t) => t.CurrentState.startsWith('Running') && t.Node !== 'node-1') ? rows : undefined;
    }, 30_000, 500);
    expect(api.map((t) => t.Name).sort()).toEqual(['app_api.1', 'app_api.2', 'app_api.3']);
    await waitFor('more_web running', async () => {
      const rows = (await c.list<TaskRow>(['service', 'ps', 'more_web'])).filter((t) => t.DesiredState === 'Running');
      return rows.length === 2 && rows.every((t) => t.CurrentState.startsWith('Running')) ? rows : undefined;
    }, 30_000, 500);

    // The killed manager comes back, rejoins its peers and catches up.
    await c.ok(['dev', 'start', 'node-1']);
    await waitFor('node-1 ready again', async () => {
      const rows = await c.list<{ Hostname: string; Status: string }>(['node', 'ls']);
      return rows.every((r) => r.Status === 'Ready') ? true : undefined;
    }, 60_000, 500);
    const services = (await c.list<ServiceRow>(['service', 'ls'])).map((s) => s.Name);
    expect(services).toEqual(['app_api', 'app_db', 'more_web']);
  });
});
