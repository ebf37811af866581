/**
 * A synthetic cluster state in the project's own record types (core/model.ts), shaped as the
 * deployer and scheduler write it: N services on a few overlays, their tasks spread over the
 * nodes, running statuses, and each node's LB address on each overlay it uses.
 */
import { FIRST_FWMARK, FIRST_VNI } from '../../core/names.js';
import { intToIp, ipToInt } from '../../core/ipnet.js';
import type { LbAddress, NetworkRecord, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../../core/model.js';

export interface SyntheticCluster {
  nodes: NodeRecord[];
  networks: NetworkRecord[];
  services: ServiceRecord[];
  tasks: TaskRecord[];
  statuses: TaskStatus[];
  lbaddrs: LbAddress[];
}

export interface SyntheticOptions {
  services: number;
  replicas: number;
  nodes: number;
  networks: number;
  stack?: string;
}

const id = (kind: string, n: number) => `${kind}${n.toString(16).padStart(24 - kind.length, '0')}`.slice(0, 25);
const NOW = '2026-01-01T00:00:00.000Z';

/** Network k: 10.(100 + k).0.0/16 (room for thousands of VIPs and tasks). */
function network(k: number, stack: string): NetworkRecord {
  return {
    id: id('n', k),
    name: `${stack}_net${k}`,
    stack,
    driver: 'overlay',
    subnet: `10.${100 + k}.0.0/16`,
    gateway: `10.${100 + k}.0.1`,
    vni: FIRST_VNI + k,
    internal: false,
    attachable: false,
    ingress: false,
    createdAt: NOW,
  };
}

function node(i: number): NodeRecord {
  return {
    id: id('w', i),
    hostname: `sim-${i + 1}`,
    role: 'worker',
    runsTasks: true,
    addr: intToIp(ipToInt('172.16.0.10') + i),
    labels: {},
    status: 'ready',
    statusMessage: '',
    joinedAt: NOW,
    updatedAt: NOW,
  };
}

/** Address `offset` in network k's /16 (offset 2 and up; .1 is the gateway). */
const addrIn = (net: NetworkRecord, offset: number) => intToIp(ipToInt(net.gateway) - 1 + offset);

export function syntheticCluster(o: SyntheticOptions): SyntheticCluster {
  const stack = o.stack ?? 'bench';
  const nodes = Array.from({ length: o.nodes }, (_, i) => node(i));
  const networks = Array.from({ length: o.networks }, (_, k) => network(k, stack));
  const services: ServiceRecord[] = [];
  const tasks: TaskRecord[] = [];
  const statuses: TaskStatus[] = [];
  const next = new Map(networks.map((n) => [n.id, 2]));
  const take = (net: NetworkRecord) => {
    const a = next.get(net.id)!;
    next.set(net.id, a + 1);
    return `${addrIn(net, a)}/16`;
  };
  let t = 0;
  for (let s = 0; s < o.services; s++) {
    const net = networks[s % networks.length]!;
    const short = `svc${s}`;
    const svc: ServiceRecord = {
      id: id('s', s),
      name: `${stack}_${short}`,
      stack,
      spec: {
        name: short,
        image: 'bench',
        command: ['node', '-e', "require('http').createServer((q, s) => s.end('ok')).listen(8080)"],
        environment: { SERVICE: short },
        mode: 'replicated',
        replicas: o.replicas,
        endpointMode: 'vip',
        constraints: [],
        restartPolicy: { condition: 'any', delayMs: 5_000, maxAttempts: 0 },
        ports: [],
        networks: [{ name: `net${s % networks.length}`, aliases: [] }],
      },
      networks: [{ networkId: net.id, aliases: [] }],
      version: 1,
      fwmark: FIRST_FWMARK + s,
      endpoint: { vips: [{ networkId: net.id, addr: take(net) }], ports: [] },
      createdAt: NOW,
      updatedAt: NOW,
    };
    services.push(svc);
    for (let r = 1; r <= o.replicas; r++, t++) {
      const nodeId = nodes[t % nodes.length]!.id;
      const task: TaskRecord = {
        id: id('t', t),
        serviceId: svc.id,
        serviceName: svc.name,
        slot: r,
        name: `${svc.name}.${r}`,
        nodeId,
        desiredState: 'running',
        specVersion: 1,
        addresses: [{ networkId: net.id, addr: take(net) }],
        createdAt: NOW,
      };
      tasks.push(task);
      statuses.push({ taskId: task.id, nodeId, state: 'running', message: 'started', pid: 1000 + t, restarts: 0, updatedAt: NOW });
    }
  }
  const lbaddrs: LbAddress[] = [];
  const used = new Set(tasks.flatMap((x) => x.addresses.map((a) => `${a.networkId}.${x.nodeId}`)));
  for (const key of [...used].sort()) {
    const [networkId, nodeId] = key.split('.') as [string, string];
    lbaddrs.push({ networkId, nodeId, addr: take(networks.find((n) => n.id === networkId)!) });
  }
  return { nodes, networks, services, tasks, statuses, lbaddrs };
}
