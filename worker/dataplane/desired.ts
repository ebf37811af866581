import { TERMINAL_STATES, type EndpointRecord, type LbAddress, type NetworkRecord, type NodeRecord, type ServiceRecord, type TaskRecord, type TaskStatus } from '../../core/model.js';
import { addrOf, macOf } from '../../core/ipnet.js';
import { downNodeIds, isServing, routingMeshInUse } from '../../core/serving.js';
import { endpointBridgePort, gatewayLeg, taskBridgePort } from './names.js';
import type { LbBackend, LbDesired, LbService } from '../../lb/model.js';
import type { RunPaths } from '../paths.js';
import type { GatewayDesired } from './gateway.js';
import {
  ingressNetwork,
  ingressSandboxOf,
  publishRulesOf,
  taskPortRulesOf,
  type IngressSandboxDesired,
  type PublishRule,
  type TaskPortRules,
} from './ingress-desired.js';

/** A remote endpoint on an overlay: reached through the vxlan device at `vtep`. */
export interface Peer {
  ip: string;
  mac: string;
  vtep: string;
}

export interface LbNamespaceDesired {
  netns: string;
  /** The node's LB address with prefix. */
  addr: string;
  mac: string;
  /** VIPs held as /32 on the LB interface. */
  vips: string[];
  lb: LbDesired;
}

export interface OverlayDesired {
  networkId: string;
  netns: string;
  vni: number;
  mtu: number;
  vxlanPort: number;
  localAddr: string;
  peers: Peer[];
  lb?: LbNamespaceDesired;
}

/**
 * A sandbox's interface on an overlay, its peer on the overlay bridge: a task's `eth<i>`, or a
 * CNI container's CNI_IFNAME (one way in for both: worker/dataplane/attach.ts).
 */
export interface Attachment {
  /** The task's id, or the CNI endpoint's. */
  ownerId: string;
  networkId: string;
  sandbox: string;
  ifname: string;
  bridgePort: string;
  addr: string;
  mac: string;
  mtu: number;
  overlayNetns: string;
}

export interface DataplaneDesired {
  overlays: OverlayDesired[];
  attachments: Attachment[];
  gateway: GatewayDesired;
  /** The routing mesh, while any service publishes a port in ingress mode. */
  ingress?: { networkId: string; sandbox: IngressSandboxDesired };
  publish: PublishRule[];
  taskPorts: TaskPortRules[];
}

export interface DataplaneInput {
  node: NodeRecord;
  nodes: readonly NodeRecord[];
  networks: readonly NetworkRecord[];
  services: readonly ServiceRecord[];
  tasks: readonly TaskRecord[];
  statuses: ReadonlyMap<string, TaskStatus>;
  lbaddrs: readonly LbAddress[];
  /** Containers of other runtimes attached through the CNI plugin, on every node. */
  endpoints: readonly EndpointRecord[];
  paths: RunPaths;
  vxlanPort: number;
  underlayMtu: number;
  gatewaySubnet: string;
  /** Node-local gateway addresses of the sandboxes in `gatewayOwners` (assigned by the reconciler). */
  gatewayAddrs: ReadonlyMap<string, string>;
}

/**
 * The tasks this node wires up: those desired running, and those told to shut down whose process
 * still runs here (status not terminal). A leaving replica keeps its interfaces, overlay, and
 * gateway leg until it has stopped: its established connections are served till then (hand-off,
 * worker/handoff.ts); only the load balancers and DNS drop it at once (core/serving.ts).
 */
export function localTasks(input: Pick<DataplaneInput, 'node' | 'tasks' | 'statuses'>): TaskRecord[] {
  return input.tasks.filter((t) => {
    if (t.nodeId !== input.node.id) return false;
    if (t.desiredState === 'running') return true;
    const status = input.statuses.get(t.id);
    return status !== undefined && !TERMINAL_STATES.has(status.state);
  });
}

/** The routing mesh on this node: while anything publishes in ingress mode, or a replica that did still leaves. */
export function routingMeshNeeded(input: Pick<DataplaneInput, 'services' | 'tasks' | 'statuses' | 'networks'>): boolean {
  return routingMeshInUse({ ...input, ingressId: ingressNetwork(input.networks)?.id });
}

/** CNI containers attached on this node. */
export function localEndpoints(input: Pick<DataplaneInput, 'node' | 'endpoints'>): EndpointRecord[] {
  return input.endpoints.filter((e) => e.nodeId === input.node.id);
}

/** Every local task and CNI container gets a gateway leg: for DNS, and for outbound unless it is isolated. */
export function gatewayOwners(input: Pick<DataplaneInput, 'node' | 'tasks' | 'statuses' | 'endpoints'>): string[] {
  return [...localTasks(input).map((t) => t.id), ...localEndpoints(input).map((e) => e.id)].sort();
}

/** A task only on `internal` networks: its gateway leg reaches the node's DNS and nothing else. */
export function isIsolated(task: TaskRecord, networks: readonly NetworkRecord[]): boolean {
  const internal = new Set(networks.filter((n) => n.internal).map((n) => n.id));
  return task.addresses.length > 0 && task.addresses.every((a) => internal.has(a.networkId));
}

/** VXLAN adds 50 bytes (outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8). */
export const VXLAN_OVERHEAD = 50;

/**
 * A service's replicas on one network as load-balancer backends, sorted by address: weight 1
 * while serving, 0 while not (starting, restarting, unhealthy, being stopped: no new
 * connections, established ones continue). A replica whose process has ended for good
 * (terminal status) is left out, so the backends drop it (IPVS: weight 0, then deleted).
 */
export function serviceBackends(input: DataplaneInput, serviceId: string, networkId: string): LbBackend[] {
  const backends: LbBackend[] = [];
  const down = downNodeIds(input.nodes);
  for (const t of input.tasks) {
    if (t.serviceId !== serviceId) continue;
    const status = input.statuses.get(t.id);
    const a = t.addresses.find((x) => x.networkId === networkId);
    if (!a || (status && TERMINAL_STATES.has(status.state))) continue;
    backends.push({ addr: addrOf(a.addr), weight: isServing(t, status, down) ? 1 : 0 });
  }
  return backends.sort((a, b) => a.addr.localeCompare(b.addr, 'en', { numeric: true }));
}


/**
 * What this node's data plane should be, as a pure function of cluster state: one overlay per
 * network a local task uses (ingress is the routing mesh's and is built separately), the static
 * peer table for each, the `lb_` namespace with every VIP of the network, and every local task's
 * interface.
 */
export function desiredDataplane(input: DataplaneInput): DataplaneDesired {
  const mtu = input.underlayMtu - VXLAN_OVERHEAD;
  const local = localTasks(input);
  const endpoints = localEndpoints(input);
  const netIds = new Set([...local.flatMap((t) => t.addresses.map((a) => a.networkId)), ...endpoints.map((e) => e.networkId)]);
  const ingressNet = routingMeshNeeded(input) ? ingressNetwork(input.networks) : undefined;
  const overlays: OverlayDesired[] = [];
  for (const net of input.networks) {
    // The ingress overlay is on every node while anything publishes; the others where tasks use them.
    if (net.ingress ? net !== ingressNet : !netIds.has(net.id)) continue;
    overlays.push({
      networkId: net.id,
      netns: input.paths.overlayNetns(net.id),
      vni: net.vni,
      mtu,
      vxlanPort: input.vxlanPort,
      localAddr: input.node.addr,
      peers: peersOf(input, net.id),
      lb: net.ingress ? undefined : lbOf(input, net.id),
    });
  }
  const attachments: Attachment[] = [];
  for (const t of local) {
    t.addresses.forEach((a, i) => {
      const ov = overlays.find((o) => o.networkId === a.networkId);
      if (!ov) return;
      attachments.push({
        ownerId: t.id,
        networkId: a.networkId,
        sandbox: input.paths.taskNetns(t.id),
        ifname: `eth${i}`,
        bridgePort: taskBridgePort(t.id, i),
        addr: a.addr,
        mac: macOf(addrOf(a.addr)),
        mtu,
        overlayNetns: ov.netns,
      });
    });
  }
  for (const e of endpoints) {
    const ov = overlays.find((o) => o.networkId === e.networkId);
    if (!ov) continue;
    attachments.push({
      ownerId: e.id,
      networkId: e.networkId,
      sandbox: e.netns,
      ifname: e.ifname,
      bridgePort: endpointBridgePort(e.id),
      addr: e.addr,
      mac: macOf(addrOf(e.addr)),
      mtu,
      overlayNetns: ov.netns,
    });
  }
  const internal = new Set(input.networks.filter((n) => n.internal).map((n) => n.id));
  const legs = [
    ...local.map((t) => ({ ownerId: t.id, sandbox: input.paths.taskNetns(t.id), isolated: isIsolated(t, input.networks) })),
    ...endpoints.map((e) => ({ ownerId: e.id, sandbox: e.netns, isolated: internal.has(e.networkId) })),
  ];
  const gateway: GatewayDesired = {
    subnet: input.gatewaySubnet,
    mtu: input.underlayMtu,
    tasks: legs
      .filter((l) => input.gatewayAddrs.has(l.ownerId))
      .map((l) => ({
        taskId: l.ownerId,
        sandbox: l.sandbox,
        hostPort: gatewayLeg(l.ownerId),
        addr: input.gatewayAddrs.get(l.ownerId)!,
        isolated: l.isolated,
      })),
    forwardingMarker: input.paths.forwardingMarker,
  };
  const sandbox = ingressNet ? ingressSandboxOf(input, ingressNet) : undefined;
  return {
    overlays,
    attachments,
    gateway,
    ingress: ingressNet && sandbox ? { networkId: ingressNet.id, sandbox } : undefined,
    publish: publishRulesOf(input, sandbox),
    taskPorts: ingressNet ? taskPortRulesOf(input, ingressNet) : [],
  };
}

function peersOf(input: DataplaneInput, networkId: string): Peer[] {
  const vtep = new Map(input.nodes.map((n) => [n.id, n.addr]));
  const peers: Peer[] = [];
  const add = (nodeId: string, cidr: string) => {
    const at = vtep.get(nodeId);
    if (nodeId === input.node.id || !at) return;
    const ip = addrOf(cidr);
    peers.push({ ip, mac: macOf(ip), vtep: at });
  };
  for (const t of input.tasks) for (const a of t.addresses) if (a.networkId === networkId) add(t.nodeId, a.addr);
  for (const l of input.lbaddrs) if (l.networkId === networkId) add(l.nodeId, l.addr);
  for (const e of input.endpoints) if (e.networkId === networkId) add(e.nodeId, e.addr);
  return peers.sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
}

function lbOf(input: DataplaneInput, networkId: string): LbNamespaceDesired | undefined {
  const mine = input.lbaddrs.find((l) => l.networkId === networkId && l.nodeId === input.node.id);
  if (!mine) return undefined;
  const services: LbService[] = [];
  const vips: string[] = [];
  for (const svc of input.services) {
    const vip = svc.endpoint.vips.find((v) => v.networkId === networkId);
    if (!vip || svc.fwmark === undefined || svc.spec.endpointMode !== 'vip') continue;
    const backends = serviceBackends(input, svc.id, networkId);
    services.push({ name: svc.name, fwmark: svc.fwmark, match: { type: 'vip', vip: addrOf(vip.addr) }, backends });
    vips.push(`${addrOf(vip.addr)}/32`);
  }
  services.sort((a, b) => a.fwmark - b.fwmark);
  return {
    netns: input.paths.lbNetns(networkId),
    addr: mine.addr,
    mac: macOf(addrOf(mine.addr)),
    vips: vips.sort(),
    lb: { snatAddr: addrOf(mine.addr), services },
  };
}
