/** Parsed (schema-checked) services and networks -> the model's specs, with the checks across fields. */
import { DEFAULT_UPDATE_CONFIG, type NetworkSpec, type ServiceNetworkSpec, type ServiceSpec, type UpdateConfig } from '../../core/model.js';
import { type Subnet, subnetsOverlap } from './cidr.js';
import { type PathSeg, type Problem, describe, formatPath, problemAt } from './issues.js';
import type { PortEntryAt } from './ports.js';
import { NAME_PATTERN, type NetworkRef, type ParsedNetwork, type ParsedService } from './schema.js';
import { containerOptions } from './container-keys.js';
import { resolveMounts, type VolumeDecl } from './volumes.js';

export const MAX_STACK_NAME = 40;
/** `<stack>_<service>` is a DNS label. */
export const MAX_FULL_NAME = 63;
export const DEFAULT_NETWORK = 'default';

export function checkStackName(stackName: string): Problem[] {
  const at = 'stack name';
  if (!NAME_PATTERN.test(stackName)) return [{ at, message: `must match ${NAME_PATTERN.source}, got ${describe(stackName)}` }];
  if (stackName.length > MAX_STACK_NAME) {
    return [{ at, message: `must be at most ${MAX_STACK_NAME} characters, got ${stackName.length}` }];
  }
  return [];
}

/** Service and network names; `stackName` is undefined when it is itself invalid (no length check then). */
export function checkObjectName(path: readonly PathSeg[], name: string, stackName: string | undefined): Problem[] {
  if (!NAME_PATTERN.test(name)) return [problemAt(path, `invalid name; must match ${NAME_PATTERN.source}`)];
  const full = stackName === undefined ? '' : `${stackName}_${name}`;
  if (full.length > MAX_FULL_NAME) {
    return [problemAt(path, `${JSON.stringify(full)} is ${full.length} characters; the limit is ${MAX_FULL_NAME}`)];
  }
  return [];
}

export interface ServiceContext {
  /** Names declared under top-level `networks`; undefined when that section is unreadable (no reference checks). */
  declaredNetworks: ReadonlySet<string> | undefined;
  /** Top-level `volumes`; undefined when that section is unreadable (no reference checks). */
  declaredVolumes: ReadonlyMap<string, VolumeDecl> | undefined;
  /** Names the node's named volumes (`<stack>_<name>`); undefined when the stack name is invalid. */
  stackName: string | undefined;
}

export interface NormalizedService {
  spec: ServiceSpec;
  ports: PortEntryAt[];
  problems: Problem[];
  warnings: string[];
}

/** Keys that only a container has (a command task ignores them, with a warning). */
const CONTAINER_ONLY = ['init', 'working_dir', 'read_only', 'tmpfs', 'cap_add', 'cap_drop', 'sysctls', 'ulimits', 'extra_hosts', 'labels', 'volumes'] as const;

export function normalizeService(name: string, s: ParsedService, ctx: ServiceContext): NormalizedService {
  const base = ['services', name];
  const problems: Problem[] = [];
  if (s.image === undefined && s.command === undefined && s.entrypoint === undefined) {
    problems.push(problemAt([...base, 'image'], 'required: an image to run, or a command (a task without an image runs the command on the node)'));
  }
  const mode = s.deploy?.mode ?? 'replicated';
  if (mode === 'global' && s.deploy?.replicas !== undefined) {
    problems.push(problemAt([...base, 'deploy', 'replicas'], 'cannot be set when deploy.mode is global'));
  }
  const ports: PortEntryAt[] = (s.ports ?? []).map((entry, i) => ({ path: [...base, 'ports', i], entry }));
  const endpointMode = s.deploy?.endpoint_mode ?? 'vip';
  const ingress = ports.find((p) => p.entry.mode === 'ingress');
  if (endpointMode === 'dnsrr' && ingress) {
    problems.push(
      problemAt(
        [...base, 'deploy', 'endpoint_mode'],
        `dnsrr cannot be used with ingress-mode ports (${formatPath(ingress.path)}); publish them with mode: host`,
      ),
    );
  }
  const networks = serviceNetworks(s.networks ?? [], base, ctx, problems);
  const rp = s.deploy?.restart_policy;
  const reservations = s.deploy?.resources?.reservations;
  const spec: ServiceSpec = {
    name,
    ...(s.image !== undefined && { image: s.image }),
    ...(s.entrypoint !== undefined && { entrypoint: s.entrypoint }),
    ...(s.command !== undefined && { command: s.command }),
    environment: s.environment ?? {},
    mode,
    replicas: mode === 'global' ? 0 : (s.deploy?.replicas ?? 1),
    endpointMode,
    constraints: s.deploy?.placement?.constraints ?? [],
    restartPolicy: { condition: rp?.condition ?? 'any', delayMs: rp?.delay ?? 5_000, maxAttempts: rp?.max_attempts ?? 0 },
    ports: [],
    networks,
    ...(s.healthcheck !== undefined && { healthcheck: s.healthcheck }),
    ...(s.user !== undefined && { user: s.user }),
    ...(s.stop_signal !== undefined && { stopSignal: s.stop_signal }),
    ...(s.stop_grace_period !== undefined && { stopGraceMs: s.stop_grace_period }),
    ...(reservations && Object.keys(reservations).length > 0 && { reservations }),
    updateConfig: updateConfigOf(s.deploy?.update_config),
    rollbackConfig: updateConfigOf(s.deploy?.rollback_config),
  };
  const mounts = resolveMounts(s.volumes ?? [], { base, declared: ctx.declaredVolumes, stackName: ctx.stackName });
  if (s.image !== undefined) problems.push(...mounts.problems);
  const container = containerOptions({ ...s, mounts: mounts.mounts, ...(s.deploy?.resources?.limits && { limits: s.deploy.resources.limits }) });
  const warnings: string[] = [];
  if (container && s.image !== undefined) spec.container = container;
  else if (container) {
    const keys = [...CONTAINER_ONLY.filter((k) => s[k] !== undefined), ...(s.deploy?.resources?.limits ? ['deploy.resources.limits'] : [])];
    warnings.push(`${keys.map((k) => formatPath([...base, ...k.split('.')])).join(', ')}: apply only to services with an image; ignored`);
  }
  return { spec, ports, problems, warnings };
}

function serviceNetworks(refs: readonly NetworkRef[], base: readonly PathSeg[], ctx: ServiceContext, problems: Problem[]): ServiceNetworkSpec[] {
  if (refs.length === 0) return [{ name: DEFAULT_NETWORK, aliases: [] }];
  for (const { spec, at } of refs) {
    if (ctx.declaredNetworks === undefined || spec.name === DEFAULT_NETWORK || ctx.declaredNetworks.has(spec.name)) continue;
    problems.push(problemAt([...base, 'networks', at], `network ${describe(spec.name)} is not declared in the top-level networks`));
  }
  return refs.map((r) => r.spec);
}

export interface NormalizedNetwork {
  spec: NetworkSpec;
  subnet?: Subnet;
}

export function normalizeNetwork(name: string, n: ParsedNetwork): NormalizedNetwork {
  const subnet = n?.ipam?.config?.[0]?.subnet;
  const spec: NetworkSpec = {
    name,
    driver: 'overlay',
    attachable: n?.attachable ?? false,
    internal: n?.internal ?? false,
    ...(subnet !== undefined && { subnet: subnet.cidr }),
  };
  return subnet === undefined ? { spec } : { spec, subnet };
}

export function defaultNetwork(): NetworkSpec {
  return { name: DEFAULT_NETWORK, driver: 'overlay', attachable: false, internal: false };
}

/** Subnets of one file must not overlap; reported at the later network, naming the earlier. */
export function findSubnetOverlaps(networks: readonly NormalizedNetwork[]): Problem[] {
  const withSubnet = networks.flatMap((n, order) => (n.subnet ? [{ name: n.spec.name, subnet: n.subnet, order }] : []));
  const byStart = [...withSubnet].sort((a, b) => a.subnet.start - b.subnet.start || a.order - b.order);
  const problems: { order: number; problem: Problem }[] = [];
  let widest: (typeof withSubnet)[number] | undefined;
  for (const cur of byStart) {
    if (widest && subnetsOverlap(widest.subnet, cur.subnet)) {
      const [earlier, later] = widest.order < cur.order ? [widest, cur] : [cur, widest];
      const problem = problemAt(
        ['networks', later.name, 'ipam', 'config', 0, 'subnet'],
        `${later.subnet.cidr} overlaps ${earlier.subnet.cidr} of ${formatPath(['networks', earlier.name])}`,
      );
      problems.push({ order: later.order, problem });
    }
    if (!widest || cur.subnet.end > widest.subnet.end) widest = cur;
  }
  return problems.sort((a, b) => a.order - b.order).map((p) => p.problem);
}

/** Compose's update_config/rollback_config with Docker's defaults for what it leaves out. */
function updateConfigOf(c: { parallelism?: number; delay?: number; order?: UpdateConfig['order']; failure_action?: string; monitor?: number; max_failure_ratio?: number } | undefined): UpdateConfig {
  return {
    parallelism: c?.parallelism ?? DEFAULT_UPDATE_CONFIG.parallelism,
    delayMs: c?.delay ?? DEFAULT_UPDATE_CONFIG.delayMs,
    order: c?.order ?? DEFAULT_UPDATE_CONFIG.order,
    failureAction: (c?.failure_action as UpdateConfig['failureAction'] | undefined) ?? DEFAULT_UPDATE_CONFIG.failureAction,
    monitorMs: c?.monitor ?? DEFAULT_UPDATE_CONFIG.monitorMs,
    maxFailureRatio: c?.max_failure_ratio ?? DEFAULT_UPDATE_CONFIG.maxFailureRatio,
  };
}
