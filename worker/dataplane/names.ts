/**
 * Every name the worker's data plane creates outside the load balancers' tables (those are in
 * lb/names.ts), in one place: interfaces, bridges and the host-side nftables tables. Each table
 * is ours alone and replaced whole by its pure renderer (gateway.ts, ingress.ts,
 * forward-policy.ts; golden-tested); nothing else of the node's firewall is touched.
 */
import { shortId } from '../../core/ids.js';

/** The node-local gateway bridge in the node's own namespace (Swarm's docker_gwbridge). */
export const GW_BRIDGE = 'meshgw0';
/** A sandbox's leg on it (task or CNI container): its name inside the sandbox. */
export const GW_TASK_IF = 'gw0';
/** That leg's other end, on the bridge in the node's namespace (task or CNI container). */
export const gatewayLeg = (ownerId: string): string => `g${shortId(ownerId)}`;
export const GATEWAY_LEG = /^g[0-9a-f]{12}$/;
/** Node namespace: the gateway's forward policy and masquerade. */
export const GW_TABLE = 'meshd_gw';
/** Node namespace: published ports (DNAT into the ingress sandbox, or to local replicas in host mode). */
export const PUBLISH_TABLE = 'meshd_publish';
/** A task sandbox: REDIRECT published -> target on its ingress address. */
export const TASK_TABLE = 'meshd_task';
/** The forward policy of namespaces that route (load-balancer namespaces, the ingress sandbox). */
export const FORWARD_TABLE = 'meshd_fwd';
/** The ingress sandbox's leg on the gateway bridge. */
export const INGRESS_GW_PORT = 'gingress';
/** Each overlay namespace: its bridge and VXLAN device. */
export const BRIDGE = 'br0';
export const VXLAN = 'vxlan0';
/** A load-balancer namespace's interface, and its port on the overlay bridge. */
export const LB_IF = 'eth0';
export const LB_BRIDGE_PORT = 'lb0';
/** A task's port on an overlay bridge, for its interface `eth<index>`. */
export const taskBridgePort = (taskId: string, index: number): string => `v${shortId(taskId).slice(0, 10)}${index}`;
/** A CNI container's port on an overlay bridge. */
export const endpointBridgePort = (endpointId: string): string => `c${endpointId.slice(0, 11)}`;
export const ENDPOINT_BRIDGE_PORT = /^c[0-9a-f]{11}$/;
