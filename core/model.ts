/**
 * The cluster state model: what managers keep in JetStream KV and workers read.
 * Specs (what the user asked for) are separate from records (spec + allocations + ids).
 */

export type Protocol = 'tcp' | 'udp';
export type PublishMode = 'ingress' | 'host';

export interface PortSpec {
  protocol: Protocol;
  target: number;
  /** Absent in a spec means "allocate one from 30000-32767" (ingress mode only). */
  published?: number;
  mode: PublishMode;
}

export interface RestartPolicy {
  condition: 'none' | 'on-failure' | 'any';
  delayMs: number;
  /** 0 = unlimited. */
  maxAttempts: number;
}

export type HealthTest = { type: 'cmd'; argv: string[] } | { type: 'shell'; script: string } | { type: 'none' };

export interface Healthcheck {
  test: HealthTest;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface Constraint {
  /** `node.hostname`, `node.role`, `node.id`, `node.labels.<name>` or `engine.labels.<name>`. */
  key: string;
  op: '==' | '!=';
  value: string;
}

export interface ServiceNetworkSpec {
  /** The network's name as the stack file writes it (stack-local). */
  name: string;
  aliases: string[];
}

/** `deploy.resources.limits`, enforced by the engine's cgroups. */
export interface ResourceLimits {
  /** CPUs x 1e9 (`cpus: "0.5"` -> 500000000). */
  nanoCpus?: number;
  memoryBytes?: number;
  pids?: number;
}

/** Compose `deploy.resources.reservations`: what a task needs of its node's capacity (the scheduler counts it). */
export interface ResourceReservations {
  nanoCpus?: number;
  memoryBytes?: number;
}

/** What a node offers its tasks (its CPUs and memory), reported when it registers. */
export interface NodeResources {
  nanoCpus: number;
  memoryBytes: number;
}

/** The compose keys that shape an image task's container (only those the stack file sets). */
/** A container mount (compose `volumes`). */
export interface MountSpec {
  type: 'bind' | 'volume' | 'tmpfs';
  /** bind: an absolute path on the node; volume: the volume's name on the node; absent: an anonymous volume, or tmpfs. */
  source?: string;
  target: string;
  readOnly: boolean;
  /** tmpfs only. */
  sizeBytes?: number;
}

export interface ContainerOptions {
  /** Compose `init: true`: a minimal init (podman's catatonit) as PID 1 reaps zombies and forwards signals. */
  init?: boolean;
  workingDir?: string;
  readOnly?: boolean;
  /** `PATH[:OPTIONS]`. */
  tmpfs?: string[];
  /** `CAP_NET_ADMIN` ... or `ALL`. */
  capAdd?: string[];
  capDrop?: string[];
  sysctls?: Record<string, string>;
  ulimits?: Record<string, { soft: number; hard: number }>;
  /** `HOST:IP`. */
  extraHosts?: string[];
  labels?: Record<string, string>;
  limits?: ResourceLimits;
  mounts?: MountSpec[];
}

/**
 * Compose `deploy.update_config` / `deploy.rollback_config`: how a changed service replaces its
 * tasks. Docker's defaults: parallelism 1, delay 0, stop-first, pause, monitor 5 s, ratio 0.
 */
export interface UpdateConfig {
  /** Tasks replaced at once; 0 = all at once. */
  parallelism: number;
  /** Wait between one batch being done and the next starting. */
  delayMs: number;
  /** stop-first: the old task leaves, then its successor starts; start-first: the successor serves first. */
  order: 'stop-first' | 'start-first';
  /** What a failed update does: stop where it is, carry on, or return to the previous spec. */
  failureAction: 'pause' | 'continue' | 'rollback';
  /** How long after it starts a new task is watched for failure (and must become serving within). */
  monitorMs: number;
  /** Failed tasks tolerated, as a fraction of the tasks updated (0 = none). */
  maxFailureRatio: number;
}

/** Docker's defaults (swarmkit `defaults.Service.Update`), for updates and rollbacks alike. */
export const DEFAULT_UPDATE_CONFIG: Readonly<UpdateConfig> = {
  parallelism: 1,
  delayMs: 0,
  order: 'stop-first',
  failureAction: 'pause',
  monitorMs: 5_000,
  maxFailureRatio: 0,
};

/** One service of a stack, normalised from the compose file. */
export interface ServiceSpec {
  /** Short name within the stack (`api`). */
  name: string;
  image?: string;
  entrypoint?: string[];
  command?: string[];
  environment: Record<string, string>;
  mode: 'replicated' | 'global';
  /** Desired replicas for `replicated`; ignored for `global`. */
  replicas: number;
  endpointMode: 'vip' | 'dnsrr';
  constraints: Constraint[];
  restartPolicy: RestartPolicy;
  ports: PortSpec[];
  networks: ServiceNetworkSpec[];
  healthcheck?: Healthcheck;
  /** Compose `user:` (`uid`, `uid:gid`, `name`, `name:group`), resolved on the node; root when absent. */
  user?: string;
  /** Compose `stop_signal` (`SIGTERM` ...): what stopping a task sends first; the image's (else SIGTERM) when absent. */
  stopSignal?: string;
  /** Compose `stop_grace_period`: how long a stop waits before SIGKILL; the node's `--stop-grace` when absent. */
  stopGraceMs?: number;
  /** Image tasks only: the container's options. */
  container?: ContainerOptions;
  /** Placed only on a node with this much of its capacity not yet reserved by other tasks. */
  reservations?: ResourceReservations;
  /** How an update replaces the tasks (absent in records written before it existed: Docker's defaults). */
  updateConfig?: UpdateConfig;
  /** How a rollback replaces them. */
  rollbackConfig?: UpdateConfig;
}

export interface NetworkSpec {
  /** Stack-local name (`backend`). */
  name: string;
  driver: 'overlay';
  attachable: boolean;
  internal: boolean;
  /** CIDR requested in ipam.config[0].subnet; allocated from the pool when absent. */
  subnet?: string;
}

export interface StackSpec {
  services: Record<string, ServiceSpec>;
  networks: Record<string, NetworkSpec>;
}

// ---- records kept in KV ----

export type NodeRoleName = 'manager' | 'worker';
/** active: takes tasks; pause: keeps its tasks, takes no new ones; drain: its tasks move away. */
export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeStatus = 'ready' | 'down';

export interface NodeRecord {
  id: string;
  hostname: string;
  /** `manager` when the node runs the manager role (it may also run tasks). */
  role: NodeRoleName;
  /** Whether tasks are scheduled here. */
  runsTasks: boolean;
  addr: string;
  /** Node labels (`node.labels.*`): set by managers only (`meshctl node update`), kept across re-registration. */
  labels: Record<string, string>;
  /** Engine labels (`engine.labels.*`): what the node reports about itself (`meshd --label`). Absent in records written before they existed. */
  engineLabels?: Record<string, string>;
  /** The container engine that runs image tasks here (`podman 4.3.1`); absent: none, no image tasks. */
  containerEngine?: string;
  /** The unix socket the `meshd` CNI plugin reaches this node's meshd on (`meshctl network cni-config`). */
  cniSocket?: string;
  /** Its CPUs and memory; absent in records written before nodes reported it (then not counted). */
  resources?: NodeResources;
  /** Set by `meshctl node update --availability`; absent = active. */
  availability?: NodeAvailability;
  status: NodeStatus;
  statusMessage: string;
  joinedAt: string;
  updatedAt: string;
}

export interface NetworkRecord {
  id: string;
  /** Full name: `<stack>_<name>`, or `ingress`. */
  name: string;
  stack?: string;
  driver: 'overlay';
  subnet: string;
  gateway: string;
  vni: number;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  createdAt: string;
}

/**
 * A container of another runtime on an `attachable` overlay, attached through the CNI plugin
 * (cni/, worker/cni/): mesh_endpoints `<nodeId>.<id>`, written by managers (they allocate its
 * address). Every node wires it like a task's interface; tasks resolve it by `name`.
 */
export interface EndpointRecord {
  /** Derived from (containerId, ifname, networkId): `endpointIdOf`. */
  id: string;
  networkId: string;
  nodeId: string;
  /** CNI_CONTAINERID. */
  containerId: string;
  /** CNI_IFNAME: its interface in the container. */
  ifname: string;
  /** The DNS name tasks resolve it by: K8S_POD_NAME, the runtime's name argument, or the container id. */
  name: string;
  /** CNI_NETNS as the runtime gave it (a bind-mounted nsfs file or /proc/<pid>/ns/net). */
  netns: string;
  /** Its address on the network, with prefix. */
  addr: string;
  createdAt: string;
}

export interface VirtualIP {
  networkId: string;
  /** Address with prefix, as Docker shows it: `10.0.1.2/24`. */
  addr: string;
}

export interface PublishedPort {
  protocol: Protocol;
  target: number;
  published: number;
  mode: PublishMode;
}

export interface ServiceNetworkAttachment {
  networkId: string;
  aliases: string[];
}

export interface ServiceRecord {
  id: string;
  /** Full name: `<stack>_<short>`. */
  name: string;
  stack: string;
  spec: ServiceSpec;
  /** Networks resolved to ids, in the spec's order. */
  networks: ServiceNetworkAttachment[];
  /** Bumped whenever anything that requires new tasks changes. */
  version: number;
  /** Cluster-wide fwmark (VIP services), allocated once for the service's life. */
  fwmark?: number;
  endpoint: { vips: VirtualIP[]; ports: PublishedPort[] };
  /**
   * The registry whose login was sent with `stack deploy --with-registry-auth` (the login itself
   * is in the managers-only mesh_secrets bucket); a node asks a manager for it before a pull.
   */
  registryAuth?: string[];
  /** `stack deploy --resolve-image always`: every task start pulls the image again. */
  resolveImage?: 'always';
  /** The spec before the last change that made new tasks (what `service rollback` returns to). */
  previousSpec?: ServiceSpec;
  /** Earlier versions whose tasks run the current spec (a rollback keeps the tasks it never replaced). */
  sameSpecVersions?: number[];
  /** The versions whose tasks run `previousSpec`. */
  previousSpecVersions?: number[];
  /** The last update or rollback of the tasks (`service inspect` UpdateStatus). */
  updateStatus?: UpdateStatus;
  createdAt: string;
  updatedAt: string;
}

export type UpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';

/** Docker's `UpdateStatus`: where the service's last update (or rollback) of its tasks is. */
export interface UpdateStatus {
  state: UpdateState;
  startedAt: string;
  completedAt?: string;
  message: string;
  /** The service version this update brings the tasks to. */
  version: number;
}

/**
 * What a node's data plane has applied (bucket `mesh_applied`, key = node id, written by that
 * node only): the stream sequences of the tasks and status buckets its load balancers, DNS and
 * published ports were last computed from. A leaving replica is stopped once every live node has
 * applied the task record that took it out; a start-first successor counts as serving everywhere
 * once every live node has applied the status that made it serving.
 */
export interface DataplaneApplied {
  nodeId: string;
  tasksSeq: number;
  statusSeq: number;
  updatedAt: string;
}

/** A node's address on an overlay for its `lb_` namespace (the SNAT source of VIP traffic). */
export interface LbAddress {
  networkId: string;
  nodeId: string;
  /** With prefix: `10.0.1.250/24`. */
  addr: string;
}

export type TaskDesiredState = 'running' | 'shutdown';

export interface TaskAddress {
  networkId: string;
  /** Address with prefix: `10.0.1.5/24`. */
  addr: string;
}

export interface TaskRecord {
  id: string;
  serviceId: string;
  serviceName: string;
  /** Replica slot (1-based) for replicated services; 0 for global ones. */
  slot: number;
  /** `<stack>_<svc>.<slot>` (replicated) or `<stack>_<svc>.<nodeId12>` (global); also the hostname. */
  name: string;
  nodeId: string;
  desiredState: TaskDesiredState;
  /** The service version this task runs. */
  specVersion: number;
  addresses: TaskAddress[];
  createdAt: string;
  /** The leader term of the scheduler write that produced this version (see scheduler/fence.ts). */
  term?: number;
}

export type TaskState =
  | 'assigned'
  | 'preparing'
  | 'starting'
  | 'running'
  | 'complete'
  | 'failed'
  | 'shutdown'
  | 'rejected'
  | 'orphaned';

export interface TaskStatus {
  taskId: string;
  nodeId: string;
  state: TaskState;
  message: string;
  pid?: number;
  exitCode?: number;
  restarts: number;
  /** undefined: no healthcheck; 'starting' until the first result. */
  health?: 'starting' | 'healthy' | 'unhealthy';
  /** The task's container (image tasks). */
  containerId?: string;
  /** What keeps a task that is not failed from running (an image pull being retried). */
  error?: string;
  updatedAt: string;
}

/** Whether a task runs the service's current spec: made at its version, or at an earlier one with the same spec. */
export function runsCurrentSpec(service: Pick<ServiceRecord, 'version' | 'sameSpecVersions'>, task: Pick<TaskRecord, 'specVersion'>): boolean {
  return task.specVersion === service.version || (service.sameSpecVersions?.includes(task.specVersion) ?? false);
}

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned']);
