import { describe, expect, it } from 'vitest';
import { buildNameTable, lookup, ptrAddress } from '../../dns/names.js';
import type { EndpointRecord, NetworkRecord, ServiceRecord, TaskRecord, TaskStatus } from '../../core/model.js';

const net = (id: string, extra: Partial<NetworkRecord> = {}): NetworkRecord => ({
  id, name: `s_${id}`, stack: 's', driver: 'overlay', subnet: '10.0.0.0/24', gateway: '10.0.0.1', vni: 4097, internal: false, attachable: false, ingress: false, createdAt: '', ...extra,
});

function svc(id: string, nets: { id: string; vip?: string; aliases?: string[] }[], mode: 'vip' | 'dnsrr' = 'vip'): ServiceRecord {
  return {
    id, name: `s_${id}`, stack: 's',
    spec: { name: id, command: ['x'], environment: {}, mode: 'replicated', replicas: 1, endpointMode: mode, constraints: [], restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0 }, ports: [], networks: [] },
    networks: nets.map((n) => ({ networkId: n.id, aliases: n.aliases ?? [] })),
    version: 1,
    endpoint: { vips: nets.filter((n) => n.vip).map((n) => ({ networkId: n.id, addr: `${n.vip}/24` })), ports: [] },
    createdAt: '', updatedAt: '',
  };
}

const task = (id: string, serviceId: string, slot: number, addrs: [string, string][]): TaskRecord => ({
  id, serviceId, serviceName: `s_${serviceId}`, slot, name: `s_${serviceId}.${slot}`, nodeId: 'n1', desiredState: 'running', specVersion: 1,
  addresses: addrs.map(([networkId, a]) => ({ networkId, addr: `${a}/24` })), createdAt: '',
});
const running = (t: TaskRecord, extra: Partial<TaskStatus> = {}): [string, TaskStatus] => [t.id, { taskId: t.id, nodeId: 'n1', state: 'running', message: '', restarts: 0, updatedAt: '', ...extra }];

describe('DNS name table and scoping', () => {
  const networks = [net('a'), net('b'), net('sealed', { internal: true }), net('ing', { ingress: true })];
  const services = [
    svc('api', [{ id: 'a', vip: '10.0.0.2', aliases: ['backend'] }, { id: 'b', vip: '10.1.0.2' }, { id: 'ing', vip: '10.255.0.2' }]),
    svc('rr', [{ id: 'a' }], 'dnsrr'),
    svc('only_b', [{ id: 'b', vip: '10.1.0.9' }]),
    svc('client', [{ id: 'a', vip: '10.0.0.3' }]),
    svc('walled', [{ id: 'sealed', vip: '10.2.0.2' }]),
  ];
  const api1 = task('t1', 'api', 1, [['a', '10.0.0.5'], ['b', '10.1.0.5'], ['ing', '10.255.0.5']]);
  const api2 = task('t2', 'api', 2, [['a', '10.0.0.6'], ['b', '10.1.0.6']]);
  const api3 = task('t3', 'api', 3, [['a', '10.0.0.7'], ['b', '10.1.0.7']]);
  const rr1 = task('t4', 'rr', 1, [['a', '10.0.0.8']]);
  const client = task('t5', 'client', 1, [['a', '10.0.0.9']]);
  const walled = task('t6', 'walled', 1, [['sealed', '10.2.0.5']]);
  const statuses = new Map([running(api1), running(api2, { health: 'unhealthy' }), running(api3), running(rr1), running(client), running(walled)]);
  const table = buildNameTable({ networks, services, tasks: [api1, api2, api3, rr1, client, walled], statuses, downNodes: new Set() });
  const ask = (qname: string, qtype: 'A' | 'AAAA' | 'PTR' | 'OTHER' = 'A', from = 't5') => lookup(table, { clientTaskId: from, qname, qtype, random: () => 0.5 });

  it('answers short, full and alias names with the VIP on the shared network', () => {
    for (const n of ['api', 's_api', 'backend', 'API.', 'backend.']) expect(ask(n)).toEqual({ type: 'answer', addrs: ['10.0.0.2'] });
  });

  it('answers tasks.<name> with the serving replicas on the shared network only (unhealthy left out)', () => {
    const r = ask('tasks.api');
    expect(r.type).toBe('answer');
    expect(r.type === 'answer' && [...r.addrs].sort()).toEqual(['10.0.0.5', '10.0.0.7']);
  });

  it("leaves out replicas on a node marked down (before the scheduler moves them)", () => {
    const api3Elsewhere = { ...api3, nodeId: 'n2' };
    const down = buildNameTable({ networks, services, tasks: [api1, api2, api3Elsewhere, rr1, client, walled], statuses, downNodes: new Set(['n2']) });
    const r = lookup(down, { clientTaskId: 't5', qname: 'tasks.api', qtype: 'A', random: () => 0.5 });
    expect(r).toEqual({ type: 'answer', addrs: ['10.0.0.5'] });
  });

  it('answers a dnsrr name with replica addresses, and task names with the task address', () => {
    expect(ask('rr')).toEqual({ type: 'answer', addrs: ['10.0.0.8'] });
    expect(ask('s_api.3')).toEqual({ type: 'answer', addrs: ['10.0.0.7'] });
  });

  it('scopes by network: a name the client shares no network with is NXDOMAIN, not forwarded', () => {
    expect(ask('only_b')).toEqual({ type: 'nxdomain' });
    expect(ask('walled')).toEqual({ type: 'nxdomain' });
  });

  it('gives NODATA for another type of a known name, and forwards unknown names', () => {
    expect(ask('api', 'AAAA')).toEqual({ type: 'nodata' });
    expect(ask('example.com')).toEqual({ type: 'forward' });
  });

  it('answers PTR for VIPs and task addresses it can see', () => {
    expect(ask('2.0.0.10.in-addr.arpa', 'PTR')).toEqual({ type: 'ptr', name: 's_api' });
    expect(ask('9.0.0.10.in-addr.arpa', 'PTR')).toEqual({ type: 'ptr', name: 's_client.1' });
    expect(ask('9.0.1.10.in-addr.arpa', 'PTR')).toEqual({ type: 'nxdomain' });
    expect(ptrAddress('4.3.2.1.in-addr.arpa')).toBe('1.2.3.4');
  });

  it('never forwards for tasks only on internal networks, and refuses unknown clients', () => {
    expect(ask('example.com', 'A', 't6')).toEqual({ type: 'refused' });
    expect(ask('walled', 'A', 't6')).toEqual({ type: 'answer', addrs: ['10.2.0.2'] });
    expect(ask('api', 'A', 'nobody')).toEqual({ type: 'refused' });
  });

  it('never publishes ingress addresses', () => {
    expect(ask('5.0.255.10.in-addr.arpa', 'PTR')).toEqual({ type: 'forward' });
  });

  describe('containers of other runtimes (CNI endpoints)', () => {
    const ep = (id: string, networkId: string, name: string, addr: string): EndpointRecord => ({ id, networkId, nodeId: 'n2', containerId: `c-${id}`, ifname: 'eth0', name, netns: `/run/netns/${id}`, addr: `${addr}/24`, createdAt: '' });
    const withEndpoints = buildNameTable({ networks, services, tasks: [api1, client], statuses, downNodes: new Set(), endpoints: [ep('e1', 'a', 'web-1', '10.0.0.40'), ep('e2', 'b', 'web-2', '10.1.0.40')] });
    const q = (from: string, qname: string, qtype: 'A' | 'PTR' = 'A') => lookup(withEndpoints, { clientTaskId: from, qname, qtype });

    it('are resolved by name from tasks that share their network, and by no one else', () => {
      expect(q('t5', 'web-1')).toEqual({ type: 'answer', addrs: ['10.0.0.40'] });
      expect(q('t5', 'web-2')).toEqual({ type: 'nxdomain' });
      expect(q('t5', '40.0.0.10.in-addr.arpa', 'PTR')).toEqual({ type: 'ptr', name: 'web-1' });
    });

    it('resolve the services of their network as a task on it would (VIP on that network), nothing else', () => {
      expect(q('e1', 'api')).toEqual({ type: 'answer', addrs: ['10.0.0.2'] });
      expect(q('e2', 'api')).toEqual({ type: 'answer', addrs: ['10.1.0.2'] });
      expect(q('e1', 'only_b')).toEqual({ type: 'nxdomain' });
      expect(q('e1', 'example.com')).toEqual({ type: 'forward' });
    });
  });
});
