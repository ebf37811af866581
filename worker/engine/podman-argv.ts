/**
 * podman command lines as data (pure: golden-tested in test/unit/podman-argv.test.ts). The
 * engine runs only the task's process: meshd made and wired the network namespace, and the
 * container joins it (`--network ns:<path>`), as Swarm's sandbox holds a task's network.
 */

import type { ContainerOptions, MountSpec } from '../../core/model.js';
import { MeshError } from '../../core/errors.js';

/** How this node's podman is driven, but for the store: found at start-up (worker/engine/podman.ts `detectPodman`). */
export interface PodmanBase {
  /** The podman binary. */
  binary: string;
  version: string;
  /** Image and container storage (meshd's own: under its state dir). */
  root: string;
  /** Podman's run-time state (under meshd's run dir). */
  runroot: string;
  /** OCI runtime that starts containers here (`runc`, `crun`). */
  runtime: string;
  cgroupManager: 'cgroupfs' | 'systemd';
  /** The cgroup every container of this node (and its conmon) goes under: `meshd`, or `meshd-<hash>` for a dev node. */
  cgroupParent: string;
  /**
   * The most a container may ask for: meshd's own limits (without CAP_SYS_RESOURCE nothing may
   * raise them; podman's defaults, nofile 1048576 and nproc 4194304, fail then), nproc also at
   * most the kernel's pid_max (the OCI runtime refuses more).
   */
  limits: { nofile: Rlimit; nproc: Rlimit };
  /** Registries reached over plain HTTP (`meshd --insecure-registry HOST:PORT`). */
  insecureRegistries: readonly string[];
}

/** ... and the storage driver that works on the store's filesystem (found at first use: `chooseStorage`). */
export interface PodmanSetup extends PodmanBase {
  storageDriver: string;
}

export interface Rlimit {
  soft: number;
  hard: number;
}

/** Options every podman command of this node gets, before the subcommand. */
export function podmanGlobalArgs(s: PodmanSetup): string[] {
  return [
    '--root',
    s.root,
    '--runroot',
    s.runroot,
    '--runtime',
    s.runtime,
    '--cgroup-manager',
    s.cgroupManager,
    '--storage-driver',
    s.storageDriver,
    // No journald needed.
    '--events-backend',
    'file',
    // libpod's own temporary state (events log, boot marker) beside the runroot, not in the
    // machine-wide /run/libpod that every other podman store shares.
    '--tmpdir',
    `${s.runroot}/libpod`,
  ];
}

/** Labels every container of ours carries: how a restarted meshd finds and adopts them. */
export const LABEL = {
  task: 'org.meshd.task.id',
  taskName: 'org.meshd.task.name',
  service: 'org.meshd.service.name',
  node: 'org.meshd.node.id',
} as const;

/** The container of a task: one per task id (a restart of the task replaces it). */
export function containerName(taskId: string): string {
  return `meshd-${taskId}`;
}

export interface ContainerSpec {
  taskId: string;
  taskName: string;
  serviceName: string;
  nodeId: string;
  image: string;
  /** The task's network namespace (bind-mounted by meshd). */
  netns: string;
  /** The node's embedded DNS server address. */
  dns: string;
  /** Where the container's output goes (podman's k8s-file format: worker/engine/container-log.ts). */
  logPath: string;
  /** Compose `entrypoint` (replaces the image's, and its CMD unless `command` is given). */
  entrypoint?: readonly string[];
  /** Compose `command` (replaces the image's CMD). */
  command?: readonly string[];
  /** Service environment and the MESH_* variables; the image's ENV comes first, these win. */
  env: Readonly<Record<string, string>>;
  /** Compose `user:` (`uid[:gid]` or a name in the image); the image's USER when absent. */
  user?: string;
  /** Compose `stop_signal`; the image's STOPSIGNAL when absent. */
  stopSignal?: string;
  /** The other compose keys of a container. */
  options?: ContainerOptions;
}

/** The container options as podman flags, in the order the keys are documented. */
export function optionArgs(o: ContainerOptions): string[] {
  const argv: string[] = [];
  if (o.init) argv.push('--init');
  if (o.workingDir !== undefined) argv.push('--workdir', o.workingDir);
  if (o.readOnly) argv.push('--read-only');
  for (const t of o.tmpfs ?? []) argv.push('--tmpfs', t);
  for (const c of o.capAdd ?? []) argv.push('--cap-add', c);
  for (const c of o.capDrop ?? []) argv.push('--cap-drop', c);
  for (const [k, v] of Object.entries(o.sysctls ?? {}).sort(([a], [b]) => a.localeCompare(b))) argv.push('--sysctl', `${k}=${v}`);
  for (const [k, v] of Object.entries(o.ulimits ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (k === 'nofile' || k === 'nproc') continue; // rlimitArgs

    argv.push('--ulimit', `${k}=${v.soft}:${v.hard}`);
  }
  for (const h of o.extraHosts ?? []) argv.push('--add-host', h);
  for (const [k, v] of Object.entries(o.labels ?? {}).sort(([a], [b]) => a.localeCompare(b))) argv.push('--label', `${k}=${v}`);
  const l = o.limits;
  if (l?.nanoCpus !== undefined) argv.push('--cpus', String(l.nanoCpus / 1e9));
  if (l?.memoryBytes !== undefined) argv.push('--memory', `${l.memoryBytes}b`);
  if (l?.pids !== undefined) argv.push('--pids-limit', String(l.pids));
  for (const m of o.mounts ?? []) argv.push(...mountArgs(m));
  return argv;
}

/**
 * One compose mount as podman takes it: bind and named volumes with `--mount` (a named volume is
 * created in the node's store on first use), an anonymous volume as `--volume TARGET` (removed
 * with the container: `rm --volumes`). Paths hold no comma or colon (the parser refuses them).
 */
export function mountArgs(m: MountSpec): string[] {
  const ro = m.readOnly ? ',readonly=true' : '';
  if (m.type === 'tmpfs') return ['--mount', `type=tmpfs,destination=${m.target}${m.sizeBytes !== undefined ? `,tmpfs-size=${m.sizeBytes}` : ''}${ro}`];
  if (m.source === undefined) return ['--volume', `${m.target}${m.readOnly ? ':ro' : ''}`];
  return ['--mount', `type=${m.type},source=${m.source},destination=${m.target}${ro}`];
}

/**
 * nofile/nproc for a container: the service's (`ulimits`) when set, else the most this node
 * allows. A service asking for more than the node allows is refused, naming the key (the
 * runtime would fail the start with "operation not permitted").
 */
export function rlimitArgs(s: Pick<PodmanBase, 'limits'>, o: ContainerOptions | undefined): string[] {
  const pick = (name: 'nofile' | 'nproc') => {
    const want = o?.ulimits?.[name];
    const max = s.limits[name];
    if (want && want.hard > max.hard) throw new MeshError(`ulimits.${name}: hard limit ${want.hard} exceeds what this node allows (${max.hard})`);
    return want ?? max;
  };
  const nofile = pick('nofile');
  const nproc = pick('nproc');
  return ['--ulimit', `nofile=${nofile.soft}:${nofile.hard}`, '--ulimit', `nproc=${nproc.soft}:${nproc.hard}`];
}

/**
 * An image reference as Docker reads it, fully qualified: `nginx` -> `docker.io/library/nginx`,
 * `org/app:1` -> `docker.io/org/app:1`; one naming a registry (a first part with a dot or a port,
 * or `localhost`) is kept. podman asks registries.conf for short names instead (Debian's names
 * none), so meshd never hands it one.
 */
export function qualifyImage(image: string): string {
  const registry = registryOf(image);
  if (registry !== 'docker.io' || image.startsWith('docker.io/')) return image;
  return image.includes('/') ? `docker.io/${image}` : `docker.io/library/${image}`;
}

/** The registry host of an image reference (`docker.io` when it names none), for TLS decisions. */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
}

/** `image` names its tag `latest`, explicitly or by naming none (and no digest). */
export function isLatest(image: string): boolean {
  if (image.includes('@')) return false;
  const name = image.slice(image.lastIndexOf('/') + 1);
  return !name.includes(':') || name.endsWith(':latest');
}

function tlsArgs(s: PodmanSetup, image: string): string[] {
  return s.insecureRegistries.includes(registryOf(image)) ? ['--tls-verify=false'] : [];
}

/** `podman pull` of one image (quiet: the id on stdout); a login only through a file, never on the command line. */
export function pullArgv(s: PodmanSetup, image: string, opts: { authFile?: string } = {}): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'pull', '--quiet', ...tlsArgs(s, image), ...(opts.authFile ? ['--authfile', opts.authFile] : []), image];
}

/**
 * `podman create` of a task's container (started by `startArgv`: created first, so a failure to
 * start still leaves a container whose logs and state can be read, and its id is known).
 * Hostname = task name, DNS = the node's embedded server, `--ulimit` at meshd's own limit
 * (podman's default nofile 1048576 fails without CAP_SYS_RESOURCE), labels naming the task.
 */
export function createArgv(s: PodmanSetup, c: ContainerSpec): string[] {
  const argv = [
    s.binary,
    ...podmanGlobalArgs(s),
    'create',
    '--name',
    containerName(c.taskId),
    '--network',
    `ns:${c.netns}`,
    '--hostname',
    c.taskName,
    '--dns',
    c.dns,
    '--dns-option',
    'ndots:0',
    ...rlimitArgs(s, c.options),
    // The image's HEALTHCHECK is run by meshd (worker/health.ts), not by podman's systemd timers.
    '--no-healthcheck',
    '--log-driver',
    'k8s-file',
    '--log-opt',
    `path=${c.logPath}`,
    '--label',
    `${LABEL.task}=${c.taskId}`,
    '--label',
    `${LABEL.taskName}=${c.taskName}`,
    '--label',
    `${LABEL.service}=${c.serviceName}`,
    '--label',
    `${LABEL.node}=${c.nodeId}`,
    // The pull is ours (with its backoff and errors): never podman's own at create time.
    '--pull',
    'never',
    '--cgroup-parent',
    s.cgroupManager === 'systemd' ? `${s.cgroupParent}.slice` : `/${s.cgroupParent}`,
  ];
  for (const [k, v] of Object.entries(c.env).sort(([a], [b]) => a.localeCompare(b))) argv.push('--env', `${k}=${v}`);
  if (c.user !== undefined) argv.push('--user', c.user);
  if (c.stopSignal !== undefined) argv.push('--stop-signal', c.stopSignal);
  if (c.options) argv.push(...optionArgs(c.options));
  if (c.entrypoint !== undefined) argv.push('--entrypoint', JSON.stringify(c.entrypoint));
  argv.push(c.image);
  if (c.command !== undefined) argv.push(...c.command);
  return argv;
}

export function startArgv(s: PodmanSetup, taskId: string): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'start', containerName(taskId)];
}

/** State of one container as JSON (`podman inspect`). */
export function inspectArgv(s: PodmanSetup, nameOrId: string): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'container', 'inspect', nameOrId];
}

/** Every container of ours on this node (running or not), as JSON. */
export function listArgv(s: PodmanSetup, nodeId: string): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'ps', '--all', '--filter', `label=${LABEL.node}=${nodeId}`, '--format', 'json'];
}

/** Stop signal (the image's STOPSIGNAL unless overridden), SIGKILL after `graceMs` (whole seconds, rounded up). */
export function stopArgv(s: PodmanSetup, taskId: string, graceMs: number): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'stop', '--time', String(Math.max(0, Math.ceil(graceMs / 1_000))), containerName(taskId)];
}

/** Removes the container and its anonymous volumes, running or not; fine when it is gone. */
export function removeArgv(s: PodmanSetup, taskId: string): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'rm', '--force', '--volumes', '--ignore', containerName(taskId)];
}

/** Removes every container of this store (the dev cluster's teardown: each node has its own store). */
export function removeAllArgv(s: PodmanSetup): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'rm', '--all', '--force', '--volumes', '--time', '0'];
}

/** `podman load` of a docker-archive or oci-archive file into the node's store. */
export function loadArgv(s: PodmanSetup, file: string): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'load', '--input', file];
}

/** The image names `podman load` reports (`Loaded image: a:1` or `Loaded image(s): a:1,b:2`). */
export function loadedImages(stdout: string): string[] {
  return stdout.split('\n').flatMap((line) => {
    const m = /^Loaded image(?:\(s\))?:\s*(.+)$/.exec(line.trim());
    return m ? m[1]!.split(',').map((n) => n.trim()).filter(Boolean) : [];
  });
}

/** Whether an image is in the node's store (exit 0) or not (exit 1). */
export function imageExistsArgv(s: PodmanSetup, image: string): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'image', 'exists', image];
}

/** An image's configuration as JSON (`podman image inspect`). */
export function imageInspectArgv(s: PodmanSetup, image: string): string[] {
  return [s.binary, ...podmanGlobalArgs(s), 'image', 'inspect', image];
}
