import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DevCluster, waitFor, type TaskRow } from '../helpers/dev.js';

const HTTP = `["node", "-e", "require('http').createServer((q, s) => s.end(process.env.MESH_TASK_NAME + '\\\\n')).listen(8080)"]`;
const STACK = `services:
  api:
    command: ${HTTP}
    deploy: { replicas: 3, restart_policy: { condition: any, delay: 5s } }
    networks: { front: { aliases: [backend-api] } }
  client:
    command: ["sleep", "100000"]
    networks: [front]
  hidden:
    command: ["sleep", "100000"]
    networks: [back]
  rr:
    command: ["sleep", "100000"]
    deploy: { replicas: 2, endpoint_mode: dnsrr }
    networks: [front]
networks:
  front: {}
  back: {}
`;

/** Embedded DNS, queried with dig from inside tasks. */
describe('embedded DNS on a 3-node dev cluster', () => {
  let c: DevCluster;
  let dir: string;
  let upstream: ResultPromise | undefined;
  let upstreamLog = '';
  const dig = async (args: string) => (await c.ok(['task', 'exec', 'dns_client.1', '--', 'sh', '-c', `dig +time=2 +tries=1 ${args}`])).trim();
  const short = async (name: string) => (await dig(`+short ${name}`)).split('\n').filter(Boolean).sort();
  const addrsOf = async (svc: string) =>
    (await c.list<TaskRow>(['service', 'ps', svc]))
      .filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'))
      .map((t) => t.Addresses.find((a) => a.Network === 'dns_front')!.Addr.split('/')[0]!)
      .sort();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-stacks-'));
    await writeFile(join(dir, 'dns.yml'), STACK);
    c = await DevCluster.up({ nodes: 3, managers: 1, meshdArgs: ['--dns-upstream', '172.30.0.1'] });
    upstream = execa('nsenter', [`--net=${join(c.dir, 'netns', 'underlay')}`, process.execPath, resolve(import.meta.dirname, '../helpers/upstream-dns.mjs'), '172.30.0.1', '53'], { reject: false });
    upstream.stdout?.on('data', (d: Buffer) => (upstreamLog += d.toString()));
    await waitFor('upstream resolver', async () => (upstreamLog.includes('LISTENING') ? true : undefined), 10_000, 100);
    await c.ok(['stack', 'deploy', '-c', join(dir, 'dns.yml'), 'dns'], { timeoutMs: 120_000 });
  });
  afterAll(async () => {
    upstream?.kill('SIGKILL');
    await upstream?.catch(() => undefined);
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('resolves a service by short name, full name and alias to its VIP, with a 5 s TTL', async () => {
    const [svc] = JSON.parse(await c.ok(['service', 'inspect', 'dns_api'])) as { Endpoint: { VirtualIPs: { Addr: string }[] } }[];
    const vip = svc!.Endpoint.VirtualIPs[0]!.Addr.split('/')[0]!;
    expect(await short('api')).toEqual([vip]);
    expect(await short('dns_api')).toEqual([vip]);
    expect(await short('backend-api')).toEqual([vip]);
    expect(await dig('+noall +answer api')).toMatch(new RegExp(`^api\\.\\s+5\\s+IN\\s+A\\s+${vip.replaceAll('.', '\\.')}$`));
    expect((await dig('+tcp +short api')).trim()).toBe(vip);
    expect(await dig(`+short -x ${vip}`)).toBe('dns_api.');
  });

  it('resolves tasks.api to exactly the running replicas, across scaling and a killed replica', async () => {
    expect(await short('tasks.api')).toEqual(await addrsOf('dns_api'));
    await c.ok(['service', 'scale', 'dns_api=5']);
    await waitFor('5 replicas in DNS', async () => {
      const want = await addrsOf('dns_api');
      return want.length === 5 && (await short('tasks.api')).join() === want.join() ? true : undefined;
    }, 30_000, 300);
    const victim = (await c.list<TaskRow>(['service', 'ps', 'dns_api'])).find((t) => t.Name === 'dns_api.2')!;
    const ip = victim.Addresses[0]!.Addr.split('/')[0]!;
    process.kill(await c.taskPid(victim.Node, victim.ID), 'SIGKILL');
    await waitFor('killed replica gone from DNS', async () => (!(await short('tasks.api')).includes(ip) ? true : undefined), 5_000, 100);
    expect((await short('tasks.api')).length).toBe(4);
  });

  it('answers a dnsrr name with the replica addresses', async () => {
    expect(await short('rr')).toEqual(await addrsOf('dns_rr'));
  });

  it('gives NXDOMAIN for a service on a network the task is not on', async () => {
    expect(await dig('hidden')).toMatch(/status: NXDOMAIN/);
    expect(upstreamLog).not.toMatch(/QUERY hidden/);
  });

  it('forwards other names to the upstream resolver', async () => {
    expect(await short('example.test')).toEqual(['192.0.2.7']);
    expect(upstreamLog).toMatch(/QUERY example\.test 1/);
  });

  it('answers AAAA for an internal name with an empty NOERROR and an SOA, never forwarding it', async () => {
    const out = await dig('api AAAA');
    expect(out).toMatch(/status: NOERROR/);
    expect(out).toMatch(/ANSWER: 0, AUTHORITY: 1/);
    expect(upstreamLog).not.toMatch(/QUERY api /);
  });
});
