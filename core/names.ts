/** Every name meshd puts on the wire or on disk, in one place (kube-proxy's habit). */

export const BUCKETS = {
  nodes: 'mesh_nodes',
  networks: 'mesh_networks',
  services: 'mesh_services',
  tasks: 'mesh_tasks',
  status: 'mesh_status',
  alloc: 'mesh_alloc',
  /** Each node's load-balancer address on each overlay it joins: key `<networkId>.<nodeId>`. */
  lbaddrs: 'mesh_lbaddrs',
  control: 'mesh_control',
  /** Managers only: one record per joined node (its NATS user and password hash). */
  auth: 'mesh_auth',
  /** Managers only: registry logins sent with `stack deploy --with-registry-auth`, per service. */
  secrets: 'mesh_secrets',
  /** What each node's data plane has applied (`DataplaneApplied`): key = node id, written by that node only. */
  applied: 'mesh_applied',
  /** Containers of other runtimes on attachable overlays (`EndpointRecord`): key `<nodeId>.<endpointId>`, written by managers. */
  endpoints: 'mesh_endpoints',
} as const;
export type BucketKey = keyof typeof BUCKETS;

export const SUBJECTS = {
  /** Request/reply API served by managers (queue group `managers`). */
  api: (verb: string) => `mesh.api.${verb}`,
  /** Worker heartbeats: payload `{ nodeId }`. */
  heartbeat: (nodeId: string) => `mesh.hb.${nodeId}`,
  heartbeatAll: 'mesh.hb.*',
  /** A node's registration (managers check the id in the subject is the sender's own). */
  register: (nodeId: string) => `mesh.register.${nodeId}`,
  registerAll: 'mesh.register.*',
  /** Join requests from nodes not yet in the cluster: `ca` (TLS CA, public) and `request`. */
  join: (verb: string) => `mesh.join.${verb}`,
  /** Requests served by one node (task logs). */
  node: (nodeId: string, verb: string) => `mesh.node.${nodeId}.${verb}`,
  /** The leader's direct probe of a suspect node, answered by its heartbeat thread (two tokens: no `node(id, '*')` handler sees it). */
  livenessProbe: (nodeId: string) => `mesh.node.${nodeId}.live.ping`,
  /** A node's request for a registry login its task needs (managers check the node runs the task). */
  registryAuth: (nodeId: string) => `mesh.secret.${nodeId}.registry-auth`,
  registryAuthAll: 'mesh.secret.*.registry-auth',
  /** A node's CNI requests to managers (`attach`, `detach`): only for endpoints on itself. */
  endpoint: (nodeId: string, verb: string) => `mesh.endpoint.${nodeId}.${verb}`,
  endpointAll: 'mesh.endpoint.*.*',
} as const;

/** Buckets only managers (and the admin) may read. */
export const MANAGER_ONLY_BUCKETS = ['auth', 'secrets'] as const satisfies readonly BucketKey[];

export const MANAGER_QUEUE = 'managers';

/** Keys in the control bucket. */
export const CONTROL_KEYS = {
  cluster: 'cluster',
  leader: 'leader',
} as const;

/** Allocation keys in the alloc bucket; the value names the owner. */
export const ALLOC_KEYS = {
  subnets: 'subnets',
  vni: (vni: number) => `vni.${vni}`,
  fwmark: (mark: number) => `fwmark.${mark}`,
  ip: (networkId: string, addr: string) => `ip.${networkId}.${addr.replaceAll('.', '_')}`,
  ipPrefix: (networkId: string) => `ip.${networkId}.>`,
  port: (protocol: string, port: number) => `port.${protocol}.${port}`,
} as const;

export const INGRESS_VNI = 4096;
export const FIRST_VNI = 4097;
export const LAST_VNI = (1 << 24) - 1;
export const FIRST_FWMARK = 0x100;
export const LAST_FWMARK = 0xfffff;
export const DYNAMIC_PORTS = { first: 30000, last: 32767 } as const;

export const HEARTBEAT_INTERVAL_MS = 500;
/** A node with no heartbeat for this long is marked down (the issue asks for <= 3 s). */
export const NODE_DOWN_AFTER_MS = 2_000;
/** A node silent this long (or downAfter/2 if smaller) is suspect: the leader probes it before calling it down. */
export const NODE_SUSPECT_BEFORE_DOWN_MS = 800;
export const LEADER_RENEW_MS = 500;
export const LEADER_LEASE_MS = 3_000;
