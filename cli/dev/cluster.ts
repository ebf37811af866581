import { ADMIN_CREDS_FILE, joinToken, loadSecrets } from '../../core/auth/secrets.js';
import { existsSync } from 'node:fs';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshError, NotFoundError, ValidationError } from '../../core/errors.js';
import { CLUSTER_FILE, clusterDirFor, devHome, readCurrent, validateClusterName } from './paths.js';

/** The description of one dev cluster, kept in `<clusterDir>/cluster.json`. */

export type DevRole = 'manager' | 'worker';

export interface DevNode {
  /** `node-<i>`, 1-based. */
  hostname: string;
  role: DevRole;
  /** 172.30.0.(10+i) */
  addr: string;
  /** Bind-mounted namespace file `<dir>/netns/node-<i>`. */
  netns: string;
  stateDir: string;
  runDir: string;
  logFile: string;
  pidFile: string;
}

export interface DevUnderlay {
  /** Bind-mounted namespace file `<dir>/netns/underlay`: where meshctl and test clients run. */
  netns: string;
  bridge: 'br0';
  /** 172.30.0.1, on br0 in the underlay namespace. */
  clientAddr: string;
  prefixLen: 24;
  mtu: number;
}

export interface DevCluster {
  name: string;
  dir: string;
  underlay: DevUnderlay;
  nodes: DevNode[];
  meshdArgs: string[];
  /** Only when overridden (tests' stub daemon): the command startNode runs instead of bin/meshd.js. */
  meshdCommand?: string[];
  /** `nats://<manager addr>:4222`, one per manager. */
  natsUrls: string[];
}

export const UNDERLAY_PREFIX = '172.30.0';
export const UNDERLAY_MTU = 1500;
export const NATS_PORT = 4222;
/** Node i gets .10+i; .254 is the last usable host address. */
export const MAX_NODES = 244;

export interface PlanOptions {
  name: string;
  nodes: number;
  managers: number;
  meshdArgs?: readonly string[];
  meshdCommand?: readonly string[];
}

/** Pure: the cluster description for a name and size (paths under the current dev home). */
export function planCluster(opts: PlanOptions): DevCluster {
  validateClusterName(opts.name);
  const problems: string[] = [];
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) {
    problems.push(`nodes must be an integer from 1 to ${MAX_NODES} (got ${opts.nodes})`);
  }
  if (!Number.isInteger(opts.managers) || opts.managers < 1 || opts.managers > opts.nodes) {
    problems.push(`managers must be an integer from 1 to nodes (${opts.nodes}) (got ${opts.managers})`);
  }
  if (problems.length > 0) throw new ValidationError(problems);
  const dir = clusterDirFor(opts.name);
  const nodes: DevNode[] = [];
  for (let i = 1; i <= opts.nodes; i++) {
    const hostname = `node-${i}`;
    const nodeDir = join(dir, 'nodes', hostname);
    nodes.push({
      hostname,
      role: i <= opts.managers ? 'manager' : 'worker',
      addr: `${UNDERLAY_PREFIX}.${10 + i}`,
      netns: join(dir, 'netns', hostname),
      stateDir: join(nodeDir, 'state'),
      runDir: join(nodeDir, 'run'),
      logFile: join(nodeDir, 'meshd.log'),
      pidFile: join(nodeDir, 'meshd.pid'),
    });
  }
  return {
    name: opts.name,
    dir,
    underlay: {
      netns: join(dir, 'netns', 'underlay'),
      bridge: 'br0',
      clientAddr: `${UNDERLAY_PREFIX}.1`,
      prefixLen: 24,
      mtu: UNDERLAY_MTU,
    },
    nodes,
    meshdArgs: [...(opts.meshdArgs ?? [])],
    ...(opts.meshdCommand ? { meshdCommand: [...opts.meshdCommand] } : {}),
    natsUrls: nodes.filter((n) => n.role === 'manager').map((n) => `nats://${n.addr}:${NATS_PORT}`),
  };
}

export function clusterFile(dir: string): string {
  return join(dir, CLUSTER_FILE);
}

/** Writes cluster.json atomically (write + rename). */
export async function saveCluster(cluster: DevCluster): Promise<void> {
  const file = clusterFile(cluster.dir);
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(cluster, null, 2) + '\n');
  await rename(tmp, file);
}

/** Reads `<base>/<name>/cluster.json`; NotFoundError when the cluster does not exist. */
export async function loadCluster(name: string): Promise<DevCluster> {
  const file = clusterFile(clusterDirFor(name));
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (existsSync(clusterDirFor(name))) {
      throw new NotFoundError(
        `dev cluster "${name}" is incomplete (no ${file}); remove it with: meshctl dev down --name ${name}`,
      );
    }
    throw new NotFoundError(
      `dev cluster "${name}" does not exist (no ${file}); create it with: meshctl dev up --name ${name}`,
    );
  }
  return JSON.parse(text) as DevCluster;
}

/** The named cluster, else the one in `<base>/current`; a clear error naming what to run if neither. */
export async function resolveCluster(name?: string): Promise<DevCluster> {
  if (name !== undefined) return loadCluster(validateClusterName(name));
  const current = await readCurrent();
  if (current === undefined) {
    throw new NotFoundError(
      `no current dev cluster (nothing in ${devHome()}/current): run "meshctl dev up" first, or pass --name`,
    );
  }
  return loadCluster(current);
}

/** The node called `hostname`; NotFoundError listing the valid ones otherwise. */
export function findNode(cluster: DevCluster, hostname: string): DevNode {
  const node = cluster.nodes.find((n) => n.hostname === hostname);
  if (node) return node;
  const valid = cluster.nodes.map((n) => n.hostname).join(', ');
  throw new NotFoundError(`dev cluster "${cluster.name}" has no node "${hostname}"; nodes: ${valid}`);
}

/** Comma-separated manager addresses, for meshd --join. */
export function managerAddrs(cluster: DevCluster): string {
  return cluster.nodes.filter((n) => n.role === 'manager').map((n) => n.addr).join(',');
}

/** The manager that creates the cluster (the others join it with a token). */
export function firstManager(cluster: DevCluster): DevNode {
  const m = cluster.nodes.find((n) => n.role === 'manager');
  if (!m) throw new MeshError(`dev cluster "${cluster.name}" has no manager`);
  return m;
}

/** meshctl's credentials for the cluster: the first manager's admin.creds. */
export function adminCredsOf(cluster: DevCluster): string {
  return join(firstManager(cluster).stateDir, ADMIN_CREDS_FILE);
}

/** The join token for `node` (none for the first manager, which creates the cluster), once it exists. */
export async function joinTokenFor(cluster: DevCluster, node: DevNode): Promise<string | undefined> {
  const first = firstManager(cluster);
  if (node.hostname === first.hostname) return undefined;
  const secrets = await loadSecrets(first.stateDir);
  return secrets && joinToken(secrets, node.role === 'manager' ? 'manager' : 'worker');
}
