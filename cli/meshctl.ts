import { connect, type NatsConnection } from 'nats';
import { existsSync } from 'node:fs';
import { AuthError, MeshError, ValidationError } from '../core/errors.js';
import { loadCredentials } from '../core/auth/secrets.js';
import { request } from '../core/rpc.js';
import { SUBJECTS } from '../core/names.js';
import { openClusterBuckets } from './cluster-view.js';
import type { CommandContext } from './commands/context.js';
import * as svc from './commands/service.js';
import { serviceRollback, serviceUpdate } from './commands/service-update.js';
import * as stk from './commands/stack.js';
import * as nn from './commands/network-node.js';
import { networkCniConfig } from './commands/network-cni.js';
import { networkCreate, networkRm } from './commands/network-create.js';
import { taskExec } from './commands/task.js';
import { devCommand } from './commands/dev.js';
import { runDemo } from './commands/demo.js';
import * as dev from './dev/index.js';
import { imageLoad } from './commands/image.js';

export const MESHCTL_USAGE = `Usage: meshctl [--host nats://ADDR:PORT] [--creds FILE] COMMAND

Cluster (talks to the managers over NATS; with no --host, the dev cluster brought up last).
Credentials: --creds FILE, $MESH_CREDS, the dev cluster's, or /var/lib/meshd/admin.creds
(every manager writes admin.creds in its state dir, readable by root only):
  stack deploy -c FILE [--detach] [--with-registry-auth] [--resolve-image always|changed|never] STACK
                                           deploy or update a stack from a compose file (with
                                           your podman/docker registry logins for its images;
                                           always: every task start pulls its image again)
  stack rm|ls|services|ps [STACK]
  service ls | ps SVC | inspect SVC | logs [--tail N] SVC | scale SVC=N... | rm SVC...
  service update [--image IMG] [--env-add K=V]... [--env-rm K]... [--replicas N] [--force]
                 [--update-parallelism N] [--update-delay D] [--update-order stop-first|start-first]
                 [--update-failure-action pause|continue|rollback] [--update-monitor D]
                 [--update-max-failure-ratio R] [--rollback-...: the same for rollbacks] [-d] SVC
                                           change a service; its tasks are replaced as its
                                           update_config says (progress shown unless -d)
  service rollback [-d] SVC                back to the service's previous spec
  network ls | inspect NET
  network create [--attachable] [--internal] [--subnet CIDR] NAME | rm NET...
                                           an overlay of its own (for containers of other runtimes)
  network cni-config NET --node NODE [--write DIR]
                                           a CNI conflist for runtimes on NODE to put containers
                                           on NET (attachable networks only)
  node ls | inspect NODE
  node update [--availability active|pause|drain] [--label-add K=V]... [--label-rm K]... NODE
                                           pause: no new tasks; drain: its tasks move away;
                                           labels: what placement constraints read
  node rm [--force] NODE...                remove a down node (a live one with --force) and
                                           revoke its credentials; managers cannot be removed
  task exec TASK -- CMD...                 run a command inside a task's sandbox
  image load -i ARCHIVE                    put an image archive (podman/docker save) on every node
  cluster join-token worker|manager        the token a node joins with (meshd --join-token-file)
  (lists and inspect take --format json)

Local dev cluster (network namespaces on this machine):
  dev up [--nodes N] [--managers M] [--name NAME] [--ready-timeout S] [-- MESHD FLAGS...]
  dev down [--name NAME] | dev ls
  dev exec NODE -- CMD... | dev stop|start|kill NODE   (each takes --name NAME)
  dev crash NODE                           power failure: link down, meshd and tasks killed
  demo [--keep] [--name NAME]              build an image, a cluster with a registry, a stack of images; tear down
`;

type Handler = (ctx: CommandContext, args: string[]) => Promise<number>;

const CLUSTER_COMMANDS: Record<string, Record<string, Handler>> = {
  stack: { deploy: stk.stackDeploy, rm: stk.stackRm, remove: stk.stackRm, ls: stk.stackLs, services: stk.stackServices, ps: stk.stackPs },
  service: { ls: svc.serviceLs, ps: svc.servicePs, inspect: svc.serviceInspectCmd, logs: svc.serviceLogs, scale: svc.serviceScale, rm: svc.serviceRm, update: serviceUpdate, rollback: serviceRollback },
  network: { ls: nn.networkLs, inspect: nn.networkInspect, create: networkCreate, rm: networkRm, remove: networkRm, 'cni-config': networkCniConfig },
  node: { ls: nn.nodeLs, inspect: nn.nodeInspect, update: nn.nodeUpdate, rm: nn.nodeRm, remove: nn.nodeRm },
  task: { exec: taskExec },
  cluster: { 'join-token': clusterJoinToken },
  image: { load: imageLoad },
};

const io = {
  out: (t: string) => void process.stdout.write(t),
  err: (t: string) => void process.stderr.write(t),
};

async function connectTo(target: ClusterTarget): Promise<NatsConnection> {
  const timeout = Number(process.env.MESH_CONNECT_TIMEOUT_MS ?? 5000);
  const creds = await readCreds(target.creds);
  try {
    return await connect({ servers: target.servers, timeout, name: 'meshctl', user: creds.user, pass: creds.password, ...(creds.ca ? { tls: { ca: creds.ca } } : {}) });
  } catch (err) {
    if (/authorization violation/i.test((err as Error).message)) throw new AuthError(`the cluster refused the credentials in ${target.creds}`);
    throw new MeshError(`cannot reach a manager at ${target.servers.join(', ')}: ${(err as Error).message}`, { cause: err });
  }
}

interface ClusterTarget {
  servers: string[];
  /** Credentials file; undefined when none was found. */
  creds: string | undefined;
}

async function readCreds(file: string | undefined): Promise<{ user: string; password: string; ca?: string }> {
  if (!file) throw new AuthError('no credentials: pass --creds FILE or set MESH_CREDS (admin.creds in a manager\'s state dir)');
  const creds = await loadCredentials(file).catch((err: Error) => {
    throw new AuthError(`--creds ${file}: ${err.message}`);
  });
  if (!creds?.user || !creds.password) throw new AuthError(`--creds ${file}: ${creds ? 'not a credentials file (needs user and password)' : 'no such file'}`);
  return creds;
}

/** Where the cluster is (--host, $MESH_NATS_URL, or the current dev cluster, re-run in its underlay) and the credentials to use. */
async function clusterTarget(host: string | undefined, credsFlag: string | undefined, argv: string[]): Promise<ClusterTarget | number> {
  const creds = credsFlag ?? process.env.MESH_CREDS;
  const explicit = host ?? process.env.MESH_NATS_URL;
  if (explicit) return { servers: explicit.split(','), creds: creds ?? (existsSync(DEFAULT_ADMIN_CREDS) ? DEFAULT_ADMIN_CREDS : undefined) };
  const cluster = await dev.resolveCluster(process.env.MESHD_DEV_CLUSTER);
  if (!(await dev.isInUnderlay(cluster))) {
    return dev.runInUnderlay(cluster, [process.execPath, ...process.execArgv, process.argv[1]!, ...argv]);
  }
  return { servers: cluster.natsUrls, creds: creds ?? dev.adminCredsOf(cluster) };
}

const DEFAULT_ADMIN_CREDS = '/var/lib/meshd/admin.creds';

async function clusterJoinToken(ctx: CommandContext, args: string[]): Promise<number> {
  const [role, ...extra] = args;
  if ((role !== 'worker' && role !== 'manager') || extra.length) throw new ValidationError(['cluster join-token: expected worker or manager']);
  const { token } = await request<{ token: string }>(ctx.nc, SUBJECTS.api('cluster.join-token'), { role }, 10_000);
  ctx.out(`${token}\n`);
  return 0;
}

async function runCluster(noun: string, verb: string | undefined, rest: string[], flags: GlobalFlags, argv: string[]): Promise<number> {
  const handler = CLUSTER_COMMANDS[noun]?.[verb ?? ''];
  if (!handler) throw new ValidationError([`${noun}: unknown command ${JSON.stringify(verb ?? '')}; expected one of ${Object.keys(CLUSTER_COMMANDS[noun] ?? {}).join(', ')}`]);
  const target = await clusterTarget(flags.host, flags.creds, argv);
  if (typeof target === 'number') return target;
  const nc = await connectTo(target);
  try {
    const buckets = await openClusterBuckets(nc);
    return await handler({ nc, buckets, ...io }, rest);
  } finally {
    await nc.close();
  }
}

interface GlobalFlags {
  host?: string;
  creds?: string;
}

async function main(argv: string[]): Promise<number> {
  let args = argv;
  const flags: GlobalFlags = {};
  while (args[0] === '--host' || args[0] === '--creds') {
    const value = args[1];
    if (value === undefined || value.startsWith('-')) throw new ValidationError([`${args[0]}: needs a value`]);
    flags[args[0] === '--host' ? 'host' : 'creds'] = value;
    args = args.slice(2);
  }
  const [noun, verb, ...rest] = args;
  if (!noun || noun === '--help' || noun === '-h' || noun === 'help') {
    io.out(MESHCTL_USAGE);
    return noun ? 0 : 2;
  }
  if (noun === 'dev') return devCommand(io, args.slice(1));
  if (noun === 'demo') return runDemo(io, args.slice(1));
  if (!(noun in CLUSTER_COMMANDS)) throw new ValidationError([`unknown command ${JSON.stringify(noun)}; run meshctl --help`]);
  return runCluster(noun, verb, rest, flags, args);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ValidationError) for (const p of err.problems) io.err(`meshctl: ${p}\n`);
    else io.err(`meshctl: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.MESHCTL_DEBUG && err instanceof Error) io.err(`${err.stack}\n`);
    process.exit(1);
  },
);
