import type { NetworkRecord, ServiceRecord, TaskRecord } from '../../core/model.js';
import { addrOf, macOf } from '../../core/ipnet.js';
import { downNodeIds, isServing } from '../../core/serving.js';
import type { LbService } from '../../lb/model.js';
import { serviceBackends, type DataplaneInput, type LbNamespaceDesired } from './desired.js';

/** Key under which the ingress sandbox's gateway-bridge address is assigned. */
export const INGRESS_SBOX_GW_KEY = 'ingress_sbox';

/** A published port on the node: DNAT to `to:toPort` (the ingress sandbox, or a local replica). */
export interface PublishRule {
  protocol: 'tcp' | 'udp';
  port: number;
  /** One address, or several to spread new connections over (host mode, several local replicas). */
  to: string[];
  toPort: number;
}

/** In a task's sandbox: published -> target port on its ingress address; nothing else gets in there. */
export interface TaskPortRules {
  taskId: string;
  sandbox: string;
  ingressAddr: string;
  ports: { protocol: 'tcp' | 'udp'; published: number; target: number }[];
}

export interface IngressSandboxDesired extends LbNamespaceDesired {
  /** Its address on the node's gateway bridge, with prefix; the node DNATs published ports here. */
  gwAddr: string;
}

export function publishesIngress(services: readonly ServiceRecord[]): boolean {
  return services.some((s) => s.endpoint.ports.some((p) => p.mode === 'ingress'));
}

export function ingressNetwork(networks: readonly NetworkRecord[]): NetworkRecord | undefined {
  return networks.find((n) => n.ingress);
}

/** The ingress sandbox: mark by published port and protocol, balance over every replica's ingress address. */
export function ingressSandboxOf(input: DataplaneInput, ingress: NetworkRecord): IngressSandboxDesired | undefined {
  const mine = input.lbaddrs.find((l) => l.networkId === ingress.id && l.nodeId === input.node.id);
  const gwAddr = input.gatewayAddrs.get(INGRESS_SBOX_GW_KEY);
  if (!mine || !gwAddr) return undefined;
  const services: LbService[] = [];
  for (const svc of input.services) {
    if (svc.fwmark === undefined) continue;
    const backends = serviceBackends(input, svc.id, ingress.id);
    for (const p of svc.endpoint.ports) {
      if (p.mode !== 'ingress') continue;
      services.push({ name: svc.name, fwmark: svc.fwmark, match: { type: 'port', protocol: p.protocol, port: p.published }, backends });
    }
  }
  return {
    netns: input.paths.ingressSandbox,
    addr: mine.addr,
    mac: macOf(addrOf(mine.addr)),
    vips: [],
    gwAddr,
    lb: { snatAddr: addrOf(mine.addr), services: services.sort((a, b) => a.fwmark - b.fwmark) },
  };
}


/** The node's published ports: ingress ones to the ingress sandbox, host ones to local replicas. */
export function publishRulesOf(input: DataplaneInput, sbox: IngressSandboxDesired | undefined): PublishRule[] {
  const rules: PublishRule[] = [];
  for (const svc of input.services) {
    for (const p of svc.endpoint.ports) {
      if (p.mode === 'ingress') {
        if (sbox) rules.push({ protocol: p.protocol, port: p.published, to: [addrOf(sbox.gwAddr)], toPort: p.published });
        continue;
      }
      const local = localServing(input, svc).map((t) => input.gatewayAddrs.get(t.id)).filter((a): a is string => Boolean(a));
      if (local.length) rules.push({ protocol: p.protocol, port: p.published, to: local.map(addrOf).sort(), toPort: p.target });
    }
  }
  return rules.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

function localServing(input: DataplaneInput, svc: ServiceRecord): TaskRecord[] {
  const down = downNodeIds(input.nodes);
  return input.tasks.filter((t) => t.serviceId === svc.id && t.nodeId === input.node.id && isServing(t, input.statuses.get(t.id), down));
}

/** REDIRECT rules for every local task of a service that publishes in ingress mode. */
export function taskPortRulesOf(input: DataplaneInput, ingress: NetworkRecord): TaskPortRules[] {
  const out: TaskPortRules[] = [];
  for (const t of input.tasks) {
    if (t.nodeId !== input.node.id || t.desiredState !== 'running') continue;
    const svc = input.services.find((s) => s.id === t.serviceId);
    const ports = (svc?.endpoint.ports ?? []).filter((p) => p.mode === 'ingress');
    const a = t.addresses.find((x) => x.networkId === ingress.id);
    if (!a || ports.length === 0) continue;
    out.push({
      taskId: t.id,
      sandbox: input.paths.taskNetns(t.id),
      ingressAddr: addrOf(a.addr),
      ports: ports.map((p) => ({ protocol: p.protocol, published: p.published, target: p.target })),
    });
  }
  return out;
}
