/**
 * Zod schemas for everything meshd reads from NATS: KV records and request payloads. Readers
 * decode with them (`decode.ts`); writers encode through them where it is cheap (`encodeAs`).
 * `checks.ts` proves at compile time that each schema's type equals the documented interface
 * (core/model.ts and the modules that own each message), so a field added to one side only
 * fails `tsc` instead of being stripped silently (zod objects drop unknown keys).
 *
 * Bounds are generous for legitimate data and stop a hostile member from making a record that
 * is huge in memory: strings, lists and maps have maxima. Objects strip unknown keys (a record
 * written by a newer meshd still reads).
 */
import * as z from 'zod';

/** Ids (node, task, service, network): a NATS subject token and a KV key part. */
export const ID_PATTERN = /^[0-9A-Za-z_-]{1,64}$/;
const id = z.string().regex(ID_PATTERN, 'must be 1-64 characters of [0-9A-Za-z_-]');
const name = z.string().min(1).max(253);
const text = (max: number) => z.string().max(max);
const time = z.string().max(64);
const int = (min: number, max: number) => z.int().min(min).max(max);
const port = int(1, 65_535);
const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 address with prefix');
const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, 'must be an IPv4 address');
const labels = z.record(z.string().max(253), z.string().max(1024)).refine((m) => Object.keys(m).length <= 64, 'at most 64 labels');
const list = <T extends z.ZodType>(item: T, max: number) => z.array(item).max(max);

// ---- specs (inside ServiceRecord) ----

export const Protocol = z.enum(['tcp', 'udp']);
export const PublishMode = z.enum(['ingress', 'host']);

export const PortSpec = z.object({ protocol: Protocol, target: port, published: port.optional(), mode: PublishMode });

export const RestartPolicy = z.object({
  condition: z.enum(['none', 'on-failure', 'any']),
  delayMs: int(0, 2 ** 31),
  maxAttempts: int(0, 2 ** 31),
});

export const HealthTest = z.discriminatedUnion('type', [
  z.object({ type: z.literal('cmd'), argv: list(text(65_536), 1024) }),
  z.object({ type: z.literal('shell'), script: text(65_536) }),
  z.object({ type: z.literal('none') }),
]);

export const Healthcheck = z.object({
  test: HealthTest,
  intervalMs: int(0, 2 ** 31),
  timeoutMs: int(0, 2 ** 31),
  retries: int(0, 2 ** 31),
  startPeriodMs: int(0, 2 ** 31),
});

export const Constraint = z.object({ key: text(512), op: z.enum(['==', '!=']), value: text(4096) });

export const ServiceNetworkSpec = z.object({ name, aliases: list(name, 256) });

const argv = list(text(131_072), 4096);

const ResourceLimits = z.object({
  nanoCpus: int(1, 1024e9).optional(),
  memoryBytes: z.int().min(1).max(2 ** 52).optional(),
  pids: int(1, 2 ** 31).optional(),
});

const MountSpec = z.object({
  type: z.enum(['bind', 'volume', 'tmpfs']),
  source: text(4096).optional(),
  target: text(4096),
  readOnly: z.boolean(),
  sizeBytes: z.int().min(1).max(2 ** 50).optional(),
});

const ResourceReservations = z.object({ nanoCpus: int(1, 1024e9).optional(), memoryBytes: z.int().min(1).max(2 ** 52).optional() });

const ContainerOptions = z.object({
  init: z.boolean().optional(),
  workingDir: text(4096).optional(),
  readOnly: z.boolean().optional(),
  tmpfs: list(text(4096), 64).optional(),
  capAdd: list(text(64), 64).optional(),
  capDrop: list(text(64), 64).optional(),
  sysctls: labels.optional(),
  ulimits: z.record(z.string().max(32), z.object({ soft: z.int().min(0), hard: z.int().min(0) })).refine((m) => Object.keys(m).length <= 32, 'at most 32 ulimits').optional(),
  extraHosts: list(text(300), 256).optional(),
  labels: labels.optional(),
  limits: ResourceLimits.optional(),
  mounts: list(MountSpec, 256).optional(),
});

export const UpdateConfig = z.object({
  parallelism: int(0, 100_000),
  delayMs: int(0, 86_400_000),
  order: z.enum(['stop-first', 'start-first']),
  failureAction: z.enum(['pause', 'continue', 'rollback']),
  monitorMs: int(0, 86_400_000),
  maxFailureRatio: z.number().min(0).max(1),
});

export const ServiceSpec = z.object({
  name,
  image: text(1024).optional(),
  entrypoint: argv.optional(),
  command: argv.optional(),
  environment: z.record(z.string().max(1024), text(131_072)).refine((m) => Object.keys(m).length <= 4096, 'at most 4096 variables'),
  mode: z.enum(['replicated', 'global']),
  replicas: int(0, 100_000),
  endpointMode: z.enum(['vip', 'dnsrr']),
  constraints: list(Constraint, 256),
  restartPolicy: RestartPolicy,
  ports: list(PortSpec, 1024),
  networks: list(ServiceNetworkSpec, 256),
  healthcheck: Healthcheck.optional(),
  user: text(256).optional(),
  stopSignal: text(16).optional(),
  stopGraceMs: int(0, 3_600_000).optional(),
  container: ContainerOptions.optional(),
  reservations: ResourceReservations.optional(),
  updateConfig: UpdateConfig.optional(),
  rollbackConfig: UpdateConfig.optional(),
});

// ---- records kept in KV ----

/** What a node says about itself (NodeAnnouncement) and a node record begins with. */
const nodeSelf = {
  id,
  hostname: name,
  role: z.enum(['manager', 'worker']),
  runsTasks: z.boolean(),
  addr: ipv4,
  labels,
  containerEngine: text(128).optional(),
  cniSocket: text(1024).optional(),
  resources: z.object({ nanoCpus: z.int().min(1).max(2 ** 52), memoryBytes: z.int().min(1).max(2 ** 60) }).optional(),
};

export const NodeRecord = z.object({
  ...nodeSelf,
  engineLabels: labels.optional(),
  availability: z.enum(['active', 'pause', 'drain']).optional(),
  status: z.enum(['ready', 'down']),
  statusMessage: text(1024),
  joinedAt: time,
  updatedAt: time,
});

export const NetworkRecord = z.object({
  id,
  name,
  stack: name.optional(),
  driver: z.literal('overlay'),
  subnet: cidr,
  gateway: ipv4,
  vni: int(1, 2 ** 24 - 1),
  internal: z.boolean(),
  attachable: z.boolean(),
  ingress: z.boolean(),
  createdAt: time,
});

export const VirtualIP = z.object({ networkId: id, addr: cidr });
export const PublishedPort = z.object({ protocol: Protocol, target: port, published: port, mode: PublishMode });
export const ServiceNetworkAttachment = z.object({ networkId: id, aliases: list(name, 256) });

export const ServiceRecord = z.object({
  id,
  name,
  stack: name,
  spec: ServiceSpec,
  networks: list(ServiceNetworkAttachment, 256),
  version: int(0, Number.MAX_SAFE_INTEGER),
  fwmark: int(1, 2 ** 32 - 1).optional(),
  endpoint: z.object({ vips: list(VirtualIP, 256), ports: list(PublishedPort, 1024) }),
  registryAuth: list(name, 1).optional(),
  resolveImage: z.literal('always').optional(),
  previousSpec: ServiceSpec.optional(),
  sameSpecVersions: list(int(0, Number.MAX_SAFE_INTEGER), 64).optional(),
  previousSpecVersions: list(int(0, Number.MAX_SAFE_INTEGER), 64).optional(),
  updateStatus: z
    .object({
      state: z.enum(['updating', 'paused', 'completed', 'rollback_started', 'rollback_paused', 'rollback_completed']),
      startedAt: time,
      completedAt: time.optional(),
      message: text(4096),
      version: int(0, Number.MAX_SAFE_INTEGER),
    })
    .optional(),
  createdAt: time,
  updatedAt: time,
});

export const DataplaneApplied = z.object({
  nodeId: id,
  tasksSeq: int(0, Number.MAX_SAFE_INTEGER),
  statusSeq: int(0, Number.MAX_SAFE_INTEGER),
  updatedAt: time,
});

export const LbAddress = z.object({ networkId: id, nodeId: id, addr: cidr });

export const TaskAddress = z.object({ networkId: id, addr: cidr });

export const TaskRecord = z.object({
  id,
  serviceId: id,
  serviceName: name,
  slot: int(0, 1_000_000),
  name: text(512),
  nodeId: id,
  desiredState: z.enum(['running', 'shutdown']),
  specVersion: int(0, Number.MAX_SAFE_INTEGER),
  addresses: list(TaskAddress, 256),
  createdAt: time,
  term: int(0, Number.MAX_SAFE_INTEGER).optional(),
});

export const TaskState = z.enum(['assigned', 'preparing', 'starting', 'running', 'complete', 'failed', 'shutdown', 'rejected', 'orphaned']);

export const TaskStatus = z.object({
  taskId: id,
  nodeId: id,
  state: TaskState,
  message: text(4096),
  pid: int(1, 2 ** 31).optional(),
  exitCode: int(-(2 ** 31), 2 ** 31).optional(),
  restarts: int(0, 2 ** 31),
  health: z.enum(['starting', 'healthy', 'unhealthy']).optional(),
  containerId: z.string().regex(/^[0-9a-f]{64}$/, 'a 64-digit hex container id').optional(),
  error: text(4096).optional(),
  updatedAt: time,
});

/** manager/cluster-config.ts */
export const ClusterConfig = z.object({
  id,
  createdAt: time,
  subnetPool: cidr,
  subnetPrefix: int(1, 32),
  ingressSubnet: cidr,
  vxlanPort: port,
});

/** manager/leader.ts */
export const LeaderLease = z.object({ nodeId: z.union([id, z.literal('')]), term: int(0, Number.MAX_SAFE_INTEGER) });

/** manager/scheduler/fence.ts (the `fence` key of mesh_tasks). */
export const FenceRecord = z.object({ nodeId: id, term: int(0, Number.MAX_SAFE_INTEGER) });

/** manager/deploy/stack-lock.ts (`stack.<name>` in mesh_control): the lock and its redo journal. */
export const CommitJournal = z.object({
  networks: list(NetworkRecord, 256),
  services: list(z.object({ record: ServiceRecord, before: ServiceRecord.optional() }), 1024),
  removeServices: list(ServiceRecord, 1024),
  removeNetworks: list(NetworkRecord, 256),
});
export const StackLockRecord = z.object({ owner: text(256), op: text(64), journal: CommitJournal.optional() });

/** manager/join.ts (mesh_auth, managers only) */
export const NodeAuthRecord = z.object({
  nodeId: id,
  user: text(128),
  passwordHash: text(128),
  hostname: name,
  joinedAt: time,
});

/** Only the hostname of a node or auth record (manager/join-identity.ts names the holder of an id). */
export const NodeHostname = z.object({ hostname: name });

/** manager/allocator.ts */
export const AllocClaim = z.object({ owner: text(256) });
export const SubnetTable = z.record(cidr, text(256));

// ---- messages ----

/** manager/node-registry.ts: heartbeat and registration payload. */
export const NodeAnnouncement = z.object({
  ...nodeSelf,
  restartGraceMs: int(0, 3_600_000).optional(),
});

/** core/auth/join-protocol.ts (fields are checked further, with their own messages, in manager/join.ts). */
export const JoinRequest = z.object({
  token: z.string({ error: 'required' }).max(4096),
  role: z.enum(['manager', 'worker'], { error: 'must be manager or worker' }),
  nodeId: z.string({ error: 'must be 8-64 characters of [0-9a-z]' }).max(64, 'must be 8-64 characters of [0-9a-z]'),
  hostname: z.string({ error: 'required (at most 253 characters)' }).max(253, 'required (at most 253 characters)'),
  passwordHash: z.string({ error: 'must be a bcrypt hash' }).max(128, 'must be a bcrypt hash').optional(),
  currentPassword: z.string({ error: 'must be a string of 1-256 characters' }).max(256, 'must be a string of 1-256 characters').optional(),
});

/** mesh.join.ca */
export const JoinCaRequest = z.object({});
export const JoinCaReply = z.object({ ca: z.string().max(65_536).optional() });
export const JoinReply = z.object({ sealed: z.string().max(1_048_576) });
/** core/auth/secrets.ts: inside a manager's sealed join grant. */
export const ClusterSecrets = z.object({
  fingerprint: text(256),
  workerSecret: text(256),
  managerSecret: text(256),
  managerPassword: text(256),
  adminPassword: text(256),
  routePassword: text(256),
  tls: z.object({ caCert: text(65_536), caKey: text(65_536) }).optional(),
});
/** The sealed join grant, once unsealed (core/auth/join-client.ts). */
export const JoinGrant = z.object({ user: text(128).optional(), secrets: ClusterSecrets.optional(), ca: text(65_536).optional() });

/** mesh.api.* (manager/manager.ts) */
export const JoinTokenRequest = z.object({ role: z.enum(['worker', 'manager'], { error: 'must be worker or manager' }) });
/** Registry logins as `docker login` keeps them: registry host[:port] -> base64 of `user:password`. */
export const RegistryAuths = z.record(name, z.string().min(1).max(8192).regex(/^[A-Za-z0-9+/=]+$/, 'must be base64 of user:password')).refine((m) => Object.keys(m).length <= 64, 'at most 64 registries');
export const DeployRequest = z.object({
  stack: name,
  file: text(4096),
  text: z.string(),
  registryAuth: RegistryAuths.optional(),
  resolveImage: z.enum(['always', 'changed', 'never'], { error: 'must be always, changed or never' }).optional(),
});
export const StackRmRequest = z.object({ stack: name });
/** `meshctl network create` (manager/networks.ts). */
export const NetworkCreateRequest = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, _ . or -, starting with a letter or digit'),
  subnet: cidr.optional(),
  internal: z.boolean(),
  attachable: z.boolean(),
});
export const NetworkRmRequest = z.object({ network: name });
export const ServiceRmRequest = z.object({ service: name });
/** manager/node-update.ts (label keys and values are checked further there, with CLI flag names). */
export const NodeUpdateRequest = z.object({
  node: z.string({ error: 'a node id or hostname is required' }).min(1, 'a node id or hostname is required').max(253),
  add: z.record(z.string().max(253), z.string().max(1024)).refine((m) => Object.keys(m).length <= 64, 'at most 64 labels').default({}),
  rm: list(z.string().max(253), 64).default([]),
  availability: z.enum(['active', 'pause', 'drain'], { error: '--availability: must be active, pause or drain' }).optional(),
});
/** manager/node-remove.ts */
export const NodeRmRequest = z.object({
  node: z.string({ error: 'a node id or hostname is required' }).min(1, 'a node id or hostname is required').max(253),
  force: z.boolean().default(false),
});
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name (letters, digits and _, not starting with a digit)').max(1024);
export const ServiceUpdateRequest = z.object({
  service: name,
  image: text(1024).optional(),
  envAdd: z.record(envName, text(131_072)).refine((m) => Object.keys(m).length <= 4096, 'at most 4096 variables').optional(),
  envRm: list(envName, 4096).optional(),
  replicas: int(0, 100_000).optional(),
  force: z.boolean().optional(),
  updateConfig: UpdateConfig.partial().optional(),
  rollbackConfig: UpdateConfig.partial().optional(),
});
export const ServiceRollbackRequest = z.object({ service: name });

export const ServiceScaleRequest = z.object({ service: name, replicas: z.int({ error: 'must be an integer from 0 to 100000' }).min(0, 'must be an integer from 0 to 100000').max(100_000, 'must be an integer from 0 to 100000') });

/** mesh_secrets `registry.<serviceId>` (manager/registry-auth.ts): managers only. */
export const RegistryAuthRecord = z.object({ serviceId: id, auths: RegistryAuths, writtenAt: time });
/** mesh.secret.<node>.registry-auth: a node asks for the login its task's image pull needs. */
/** mesh_endpoints (core/model.ts EndpointRecord). */
export const EndpointRecord = z.object({
  id,
  networkId: id,
  nodeId: id,
  containerId: text(256).min(1),
  ifname: z.string().regex(/^[^\s/]{1,15}$/, 'must be an interface name (1-15 characters, no space or /)'),
  name,
  netns: text(4096).min(1),
  addr: cidr,
  createdAt: time,
});

/** mesh.endpoint.<node>.attach (manager/endpoints.ts). */
/** A CNI container's name: one DNS label (it must not answer for a dotted name, api.github.com, on its network). */
export const ENDPOINT_NAME = /^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;
export const EndpointAttachRequest = z.object({
  network: name,
  containerId: text(256).min(1),
  ifname: z.string().regex(/^[^\s/]{1,15}$/, 'must be an interface name (1-15 characters, no space or /)'),
  name: z.string().regex(ENDPOINT_NAME, 'must be one DNS label (1-63 letters, digits, - or _)'),
  netns: text(4096).min(1),
});
export const EndpointAttachReply = z.object({ endpoint: EndpointRecord, created: z.boolean() });
/** mesh.endpoint.<node>.detach: one endpoint by id; absent is success. */
export const EndpointDetachRequest = z.object({ id });
export const EndpointDetachReply = z.object({ removed: z.boolean() });

export const RegistryAuthRequest = z.object({ serviceId: id });
export const RegistryAuthReply = z.object({ auths: RegistryAuths });

/** mesh.node.<id>.image-load (worker/engine/image-load.ts): an archive in the image store to load. */
export const ImageLoadRequest = z.object({ object: z.string().regex(/^load-[0-9a-f]{16}$/, 'must name an uploaded archive (load-<16 hex>)') });
export const ImageLoadReply = z.object({ images: list(text(1024), 1024) });

/** mesh.node.<id>.logs (worker/logs.ts) */
export const LogRequest = z.object({ taskIds: list(id, 10_000), tail: int(0, 10_000_000).optional() });
export const TaskLog = z.object({ taskId: id, lines: z.array(z.string()) });

/** The reply envelope of every request (core/rpc.ts). */
export const WireError = z.object({ name: text(256), message: z.string(), problems: z.array(z.string()).readonly().optional() });
export const ReplyEnvelope = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: WireError }),
]);
