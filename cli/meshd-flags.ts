import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { ValidationError } from '../core/errors.js';
import { parseCidr } from '../core/ipnet.js';
import { parseToken } from '../core/auth/tokens.js';
import { DEFAULT_LOG_LIMITS, parseLogSize, type LogLimits } from '../worker/log-rotation.js';

export type MeshdRole = 'manager' | 'worker' | 'both';

export interface MeshdConfig {
  role: MeshdRole;
  nodeName: string;
  advertiseAddr: string;
  /** Managers' addresses: NATS cluster peers for a manager, servers to reach for a worker. */
  join: string[];
  stateDir: string;
  runDir: string;
  natsUrl?: string;
  natsPort: number;
  clusterPort: number;
  labels: Record<string, string>;
  /** Registries reached over plain HTTP (`--insecure-registry HOST:PORT`, Docker's daemon option). */
  insecureRegistries: string[];
  subnetPool: string;
  subnetPrefix: number;
  ingressSubnet: string;
  vxlanPort: number;
  lbBackend: 'auto' | 'ipvs' | 'nftables';
  gatewaySubnet: string;
  dnsTtl: number;
  /** Where names meshd does not know are forwarded; the node's resolv.conf when absent. */
  dnsUpstreams?: string[];
  stopGraceMs: number;
  /** Joining an existing cluster: a worker or manager token (`meshctl cluster join-token`). */
  joinToken?: string;
  /** Where the token came from: `--join-token` (argv is world-readable: warned about), a file, the env. */
  joinTokenFrom?: 'flag' | 'file' | 'env';
  /** Managers: a node without a heartbeat for this long is marked down. */
  nodeDownAfterMs: number;
  /** Workers: the data plane is checked and brought back to the desired state this often. */
  resyncEveryMs: number;
  /** Creating a cluster: TLS for NATS (certificates generated now). Joiners follow the cluster. */
  tls: boolean;
  /** Workers: task log rotation. */
  logLimits: LogLimits;
}

export const MESHD_USAGE = `Usage: meshd [flags]

  --role manager|worker|both   manager: holds state, allocates, schedules; worker: runs tasks;
                               both (default): a manager that also runs tasks
  --node-name NAME             node hostname as 'node ls' shows it (default: this host's name)
  --advertise-addr IP          address other nodes reach this one on (default: first non-loopback IPv4)
  --join IP[,IP...]            managers' addresses (peers of this manager's NATS server, or the
                               servers a worker connects to)
  --state-dir DIR              persistent state: node id, embedded NATS store (default /var/lib/meshd)
  --run-dir DIR                runtime state: namespaces, task sandboxes (default /run/meshd)
  --nats-url URL[,URL...]      use an existing NATS cluster instead of the embedded nats-server
  --nats-port N                embedded NATS client port (default 4222)
  --cluster-port N             embedded NATS cluster port (default 6222)
  --label KEY=VALUE            engine label: what this node says about itself, matched by
                               'engine.labels.KEY' constraints (repeatable); node labels
                               ('node.labels.KEY') are set by managers: meshctl node update
  --insecure-registry HOST[:PORT]  pull images from this registry over plain HTTP (repeatable)
  --subnet-pool CIDR           overlay subnet pool, used when the cluster is created (default 10.0.0.0/8)
  --subnet-size N              prefix length of pool subnets (default 24)
  --ingress-subnet CIDR        ingress network subnet, at cluster creation (default 10.255.0.0/16)
  --vxlan-port N               VXLAN UDP port, at cluster creation (default 4789)
  --lb-backend auto|ipvs|nftables  service load balancer backend (default auto)
  --gateway-subnet CIDR        node-local subnet of the outbound gateway bridge (default 172.31.0.0/16)
  --dns-ttl SECONDS            TTL of embedded DNS answers (default 5)
  --dns-upstream IP[,IP...]    resolvers for other names (default: the node's /etc/resolv.conf)
  --stop-grace SECONDS         time a task gets between SIGTERM and SIGKILL (default 10)
  --join-token-file FILE       join the cluster at --join with the token in FILE (worker or
                               manager token, from 'meshctl cluster join-token worker|manager');
                               or set MESHD_JOIN_TOKEN. A manager started without a token creates
                               a new cluster. Needed once: the node keeps its credentials in the
                               state dir
  --join-token TOKEN           the same, on the command line: works, but is warned about (any
                               local user can read a process's arguments in /proc)
  --node-down-after SECONDS    managers: a node silent this long is down, its tasks move
                               (default 2; raise it on slow or emulated machines)
  --resync-every SECONDS       workers: full data-plane resync period, which restores anything
                               changed by hand (default 5; changes are applied at once anyway;
                               each resync starts ~25 short tool processes per node)
  --log-max-size SIZE          workers: rotate a task's log at this size (docker's syntax: 10m, 512k;
                               default 10m)
  --log-max-files N            workers: log files kept per task, the live one included (default 3)
  --tls                        when creating a cluster: TLS on NATS, with a CA and certificates
                               generated now (nodes that join use it automatically)
`;

function firstIPv4(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function int(name: string, text: string | undefined, fallback: number, min: number, max: number, problems: string[]): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) problems.push(`--${name}: must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

function cidr(name: string, text: string, problems: string[]): string {
  try {
    parseCidr(text);
  } catch {
    problems.push(`--${name}: not an IPv4 CIDR: ${JSON.stringify(text)}`);
  }
  return text;
}

function logSize(text: string | undefined, problems: string[]): number {
  if (text === undefined) return DEFAULT_LOG_LIMITS.maxSize;
  const n = parseLogSize(text);
  if (n === undefined) problems.push(`--log-max-size: expected a size such as 10m, 512k or 1g, got ${JSON.stringify(text)}`);
  return n ?? DEFAULT_LOG_LIMITS.maxSize;
}

/** The join token from exactly one of --join-token, --join-token-file, MESHD_JOIN_TOKEN. */
function joinTokenOf(flag: string | undefined, file: string | undefined, env: string | undefined, problems: string[]): Pick<MeshdConfig, 'joinToken' | 'joinTokenFrom'> {
  const given = [flag !== undefined && '--join-token', file !== undefined && '--join-token-file', env !== undefined && env !== '' && 'MESHD_JOIN_TOKEN'].filter(Boolean);
  if (given.length > 1) {
    problems.push(`${given.join(', ')}: give the join token one way only`);
    return {};
  }
  if (flag !== undefined) return { joinToken: flag, joinTokenFrom: 'flag' };
  if (env) return { joinToken: env.trim(), joinTokenFrom: 'env' };
  if (file === undefined) return {};
  try {
    return { joinToken: readFileSync(file, 'utf8').trim(), joinTokenFrom: 'file' };
  } catch (err) {
    problems.push(`--join-token-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return {};
  }
}

const TOKEN_FIELD = { flag: '--join-token', file: '--join-token-file', env: 'MESHD_JOIN_TOKEN' } as const;

/**
 * Parses meshd's flags; every problem names its flag, and nothing starts with any problem.
 * `env` is read for MESHD_JOIN_TOKEN only.
 */
export function parseMeshdFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): MeshdConfig | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      role: { type: 'string' },
      'node-name': { type: 'string' },
      'advertise-addr': { type: 'string' },
      join: { type: 'string' },
      'state-dir': { type: 'string' },
      'run-dir': { type: 'string' },
      'nats-url': { type: 'string' },
      'nats-port': { type: 'string' },
      'cluster-port': { type: 'string' },
      label: { type: 'string', multiple: true },
      'insecure-registry': { type: 'string', multiple: true },
      'subnet-pool': { type: 'string' },
      'subnet-size': { type: 'string' },
      'ingress-subnet': { type: 'string' },
      'vxlan-port': { type: 'string' },
      'lb-backend': { type: 'string' },
      'stop-grace': { type: 'string' },
      'gateway-subnet': { type: 'string' },
      'dns-ttl': { type: 'string' },
      'dns-upstream': { type: 'string' },
      'log-level': { type: 'string' },
      'join-token': { type: 'string' },
      'join-token-file': { type: 'string' },
      tls: { type: 'boolean' },
      'node-down-after': { type: 'string' },
      'resync-every': { type: 'string' },
      'log-max-size': { type: 'string' },
      'log-max-files': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const problems: string[] = [];
  const role = (values.role ?? 'both') as MeshdRole;
  if (!['manager', 'worker', 'both'].includes(role)) problems.push(`--role: must be manager, worker or both, got ${JSON.stringify(values.role)}`);
  const labels: Record<string, string> = {};
  for (const l of values.label ?? []) {
    const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(l);
    if (!m) problems.push(`--label: expected KEY=VALUE, got ${JSON.stringify(l)}`);
    else labels[m[1]!] = m[2]!;
  }
  const insecureRegistries = values['insecure-registry'] ?? [];
  for (const r of insecureRegistries) {
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(r)) problems.push(`--insecure-registry: expected HOST or HOST:PORT, got ${JSON.stringify(r)}`);
  }
  const lbBackend = (values['lb-backend'] ?? 'auto') as MeshdConfig['lbBackend'];
  if (!['auto', 'ipvs', 'nftables'].includes(lbBackend)) problems.push(`--lb-backend: must be auto, ipvs or nftables, got ${JSON.stringify(lbBackend)}`);
  const join = (values.join ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const config: MeshdConfig = {
    role,
    nodeName: values['node-name'] ?? hostname(),
    advertiseAddr: values['advertise-addr'] ?? firstIPv4(),
    join,
    stateDir: values['state-dir'] ?? '/var/lib/meshd',
    runDir: values['run-dir'] ?? '/run/meshd',
    natsUrl: values['nats-url'],
    natsPort: int('nats-port', values['nats-port'], 4222, 1, 65535, problems),
    clusterPort: int('cluster-port', values['cluster-port'], 6222, 1, 65535, problems),
    labels,
    insecureRegistries,
    subnetPool: cidr('subnet-pool', values['subnet-pool'] ?? '10.0.0.0/8', problems),
    subnetPrefix: int('subnet-size', values['subnet-size'], 24, 8, 29, problems),
    ingressSubnet: cidr('ingress-subnet', values['ingress-subnet'] ?? '10.255.0.0/16', problems),
    vxlanPort: int('vxlan-port', values['vxlan-port'], 4789, 1, 65535, problems),
    lbBackend,
    dnsTtl: int('dns-ttl', values['dns-ttl'], 5, 0, 86400, problems),
    dnsUpstreams: values['dns-upstream']?.split(',').map((x) => x.trim()).filter(Boolean),
    gatewaySubnet: cidr('gateway-subnet', values['gateway-subnet'] ?? '172.31.0.0/16', problems),
    stopGraceMs: int('stop-grace', values['stop-grace'], 10, 0, 3600, problems) * 1000,
    ...joinTokenOf(values['join-token'], values['join-token-file'], env.MESHD_JOIN_TOKEN, problems),
    nodeDownAfterMs: int('node-down-after', values['node-down-after'], 2, 1, 300, problems) * 1000,
    resyncEveryMs: int('resync-every', values['resync-every'], 5, 1, 3600, problems) * 1000,
    tls: values.tls ?? false,
    logLimits: {
      maxSize: logSize(values['log-max-size'], problems),
      maxFiles: int('log-max-files', values['log-max-files'], DEFAULT_LOG_LIMITS.maxFiles, 1, 100, problems),
    },
  };
  if (config.joinToken !== undefined) {
    try {
      parseToken(config.joinToken, TOKEN_FIELD[config.joinTokenFrom!]);
    } catch (err) {
      problems.push(...(err as ValidationError).problems);
    }
    if (join.length === 0) problems.push(`${TOKEN_FIELD[config.joinTokenFrom!]}: needs --join (the managers to join)`);
  }
  if (config.tls && config.natsUrl) problems.push('--tls: manages the embedded nats-server; not with --nats-url');
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(config.nodeName)) problems.push(`--node-name: not a valid hostname: ${JSON.stringify(config.nodeName)}`);
  if (role === 'worker' && join.length === 0 && !config.natsUrl) problems.push('--join: a worker needs the managers\' addresses (or --nats-url)');
  if (problems.length) throw new ValidationError(problems);
  return config;
}
