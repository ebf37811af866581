import type { NetworkRecord, PortSpec, PublishedPort, ServiceRecord, ServiceSpec, VirtualIP } from '../../core/model.js';
import { ALLOC_KEYS } from '../../core/names.js';
import { gatewayOf, parseCidr } from '../../core/ipnet.js';
import { newId } from '../../core/ids.js';
import type { Allocator } from '../allocator.js';
import type { ClusterConfig } from '../cluster-config.js';
import type { UndoLog } from './txn.js';

/** Allocates a new network's subnet and VNI; the undo log can give them back. */
export async function allocateNetwork(opts: {
  allocator: Allocator;
  config: ClusterConfig;
  undo: UndoLog;
  /** Absent for a network of its own (`meshctl network create`). */
  stack?: string;
  fullName: string;
  spec: { subnet?: string; internal: boolean; attachable: boolean };
}): Promise<NetworkRecord> {
  const { allocator, undo } = opts;
  const id = newId();
  const subnet = await allocator.subnet({ owner: id, requested: opts.spec.subnet, pool: opts.config.subnetPool, prefix: opts.config.subnetPrefix });
  undo.push(() => allocator.releaseSubnet(subnet, id));
  const vni = await allocator.vni(id);
  undo.push(() => allocator.release(ALLOC_KEYS.vni(vni), id));
  return {
    id,
    name: opts.fullName,
    ...(opts.stack !== undefined && { stack: opts.stack }),
    driver: 'overlay',
    subnet,
    gateway: gatewayOf(parseCidr(subnet)),
    vni,
    internal: opts.spec.internal,
    attachable: opts.spec.attachable,
    ingress: false,
    createdAt: new Date().toISOString(),
  };
}

export async function releaseNetwork(allocator: Allocator, net: NetworkRecord): Promise<void> {
  await allocator.releaseSubnet(net.subnet, net.id);
  await allocator.release(ALLOC_KEYS.vni(net.vni), net.id);
}

/** A VIP on every VIP-mode network of the service; keeps the ones it already has. */
export async function allocateVips(opts: {
  allocator: Allocator;
  undo: UndoLog;
  serviceId: string;
  spec: ServiceSpec;
  networks: readonly NetworkRecord[];
  existing: readonly VirtualIP[];
}): Promise<VirtualIP[]> {
  if (opts.spec.endpointMode !== 'vip') return [];
  const out: VirtualIP[] = [];
  for (const net of opts.networks) {
    const have = opts.existing.find((v) => v.networkId === net.id);
    if (have) {
      out.push(have);
      continue;
    }
    const ip = await opts.allocator.ip(net.id, net.subnet, opts.serviceId);
    opts.undo.push(() => opts.allocator.releaseIp(net.id, ip, opts.serviceId));
    out.push({ networkId: net.id, addr: `${ip}/${parseCidr(net.subnet).prefix}` });
  }
  return out;
}

/** Published ports: requested ones claimed cluster-wide, dynamic ones kept stable across redeploys. */
export async function allocatePorts(opts: {
  allocator: Allocator;
  undo: UndoLog;
  serviceId: string;
  ports: readonly PortSpec[];
  existing: readonly PublishedPort[];
}): Promise<PublishedPort[]> {
  const out: PublishedPort[] = [];
  const reusable = [...opts.existing];
  for (const p of opts.ports) {
    const prior = p.published === undefined ? reusable.find((e) => e.protocol === p.protocol && e.target === p.target && e.mode === p.mode) : undefined;
    if (prior) reusable.splice(reusable.indexOf(prior), 1);
    const wanted = p.published ?? prior?.published;
    const heldBefore = opts.existing.some((e) => e.protocol === p.protocol && e.published === wanted);
    const published = await opts.allocator.port(p.protocol, opts.serviceId, wanted);
    if (!heldBefore) opts.undo.push(() => opts.allocator.release(ALLOC_KEYS.port(p.protocol, published), opts.serviceId));
    out.push({ protocol: p.protocol, target: p.target, published, mode: p.mode });
  }
  return out;
}

/** What a service held before an update and no longer needs. */
export function droppedAllocations(before: ServiceRecord, after: ServiceRecord): { vips: VirtualIP[]; ports: PublishedPort[]; fwmark: number | undefined } {
  const vips = before.endpoint.vips.filter((v) => !after.endpoint.vips.some((w) => w.networkId === v.networkId && w.addr === v.addr));
  const ports = before.endpoint.ports.filter((p) => !after.endpoint.ports.some((q) => q.protocol === p.protocol && q.published === p.published));
  const fwmark = before.fwmark !== undefined && after.fwmark === undefined ? before.fwmark : undefined;
  return { vips, ports, fwmark };
}

export async function releaseService(allocator: Allocator, svc: ServiceRecord, what = { vips: svc.endpoint.vips, ports: svc.endpoint.ports, fwmark: svc.fwmark }): Promise<void> {
  for (const v of what.vips) await allocator.releaseIp(v.networkId, v.addr, svc.id);
  for (const p of what.ports) await allocator.release(ALLOC_KEYS.port(p.protocol, p.published), svc.id);
  if (what.fwmark !== undefined) await allocator.release(ALLOC_KEYS.fwmark(what.fwmark), svc.id);
}
