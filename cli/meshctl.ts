import { connect, type NatsConnection } from 'nats';
import { MeshError, ValidationError } from '../core/errors.js';
import { openClusterBuckets } from './cluster-view.js';
import type { CommandContext } from './commands/context.js';
import * as svc from './commands/service.js';
import * as stk from './commands/stack.js';
import * as nn from './commands/network-node.js';
import { taskExec } from './commands/task.js';
import { devCommand } from './commands/dev.js';
import { runDemo } from './commands/demo.js';
import * as dev from './dev/index.js';

export const MESHCTL_USAGE = `Usage: meshctl [--host nats://ADDR:PORT] COMMAND

Cluster (talks to the managers over NATS; with no --host, the dev cluster brought up last):
  stack deploy -c FILE [--detach] STACK   deploy or update a stack from a compose file
  stack rm|ls|services|ps [STACK]
  service ls | ps SVC | inspect SVC | logs [--tail N] SVC | scale SVC=N... | rm SVC...
  network ls | inspect NET
  node ls | inspect NODE
  task exec TASK -- CMD...                 run a command inside a task's sandbox
  (lists and inspect take --format json)

Local dev cluster (network namespaces on this machine):
  dev up [--nodes N] [--managers M] [--name NAME] [-- MESHD FLAGS...]
  dev down [--name NAME] | dev ls
  dev exec NODE -- CMD... | dev stop|start|kill NODE   (each takes --name NAME)
  demo                                     bring up a cluster, deploy an example, tear down
`;

type Handler = (ctx: CommandContext, args: string[]) => Promise<number>;

const CLUSTER_COMMANDS: Record<string, Record<string, Handler>> = {
  stack: { deploy: stk.stackDeploy, rm: stk.stackRm, remove: stk.stackRm, ls: stk.stackLs, services: stk.stackServices, ps: stk.stackPs },
  service: { ls: svc.serviceLs, ps: svc.servicePs, inspect: svc.serviceInspectCmd, logs: svc.serviceLogs, scale: svc.serviceScale, rm: svc.serviceRm },
  network: { ls: nn.networkLs, inspect: nn.networkInspect },
  node: { ls: nn.nodeLs, inspect: nn.nodeInspect },
  task: { exec: taskExec },
};

const io = {
  out: (t: string) => void process.stdout.write(t),
  err: (t: string) => void process.stderr.write(t),
};

async function connectTo(servers: string[]): Promise<NatsConnection> {
  const timeout = Number(process.env.MESH_CONNECT_TIMEOUT_MS ?? 5000);
  try {
    return await connect({ servers, timeout, name: 'meshctl' });
  } catch (err) {
    throw new MeshError(`cannot reach a manager at ${servers.join(', ')}: ${(err as Error).message}`, { cause: err });
  }
}

/** Where the cluster is: --host, $MESH_NATS_URL, or the current dev cluster (re-run in its underlay). */
async function clusterServers(host: string | undefined, argv: string[]): Promise<string[] | number> {
  const explicit = host ?? process.env.MESH_NATS_URL;
  if (explicit) return explicit.split(',');
  const cluster = await dev.resolveCluster(process.env.MESHD_DEV_CLUSTER);
  if (!(await dev.isInUnderlay(cluster))) {
    return dev.runInUnderlay(cluster, [process.execPath, ...process.execArgv, process.argv[1]!, ...argv]);
  }
  return cluster.natsUrls;
}

async function runCluster(noun: string, verb: string | undefined, rest: string[], host: string | undefined, argv: string[]): Promise<number> {
  const handler = CLUSTER_COMMANDS[noun]?.[verb ?? ''];
  if (!handler) throw new ValidationError([`${noun}: unknown command ${JSON.stringify(verb ?? '')}; expected one of ${Object.keys(CLUSTER_COMMANDS[noun] ?? {}).join(', ')}`]);
  const servers = await clusterServers(host, argv);
  if (typeof servers === 'number') return servers;
  const nc = await connectTo(servers);
  try {
    const buckets = await openClusterBuckets(nc);
    return await handler({ nc, buckets, ...io }, rest);
  } finally {
    await nc.close();
  }
}

async function main(argv: string[]): Promise<number> {
  let args = argv;
  let host: string | undefined;
  if (args[0] === '--host') {
    host = args[1];
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
  return runCluster(noun, verb, rest, host, args);
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
