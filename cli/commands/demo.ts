import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as dev from '../dev/index.js';
import { BUSYBOX, ImageBuilder } from '../dev/images.js';
import { DevRegistry } from '../dev/registry.js';
import type { CommandContext } from './context.js';
import { meshctlArgv } from './commands-argv.js';
import { DEMO_IMAGES, DEMO_REGISTRY } from './demo-images.js';

type Out = Pick<CommandContext, 'out' | 'err'>;

/**
 * `meshctl demo`: images built here FROM scratch out of busybox-static, a 3-node dev cluster, a
 * registry inside it serving the images, a stack that names only images deployed, its containers
 * shown running on every node and answering through the mesh, then everything torn down (also
 * when a step fails, or on Ctrl-C).
 */
async function capture(cluster: string, argv: string[]): Promise<string> {
  const res = await execa(meshctlArgv()[0]!, [...meshctlArgv().slice(1), ...argv], { env: { MESHD_DEV_CLUSTER: cluster } });
  return String(res.stdout);
}

interface TaskRow {
  Name: string;
  DesiredState: string;
  CurrentState: string;
  Health?: string;
}

async function taskRows(cluster: string, service: string): Promise<TaskRow[]> {
  return (await capture(cluster, ['service', 'ps', service, '--format', 'json'])).split('\n').filter(Boolean).map((l) => JSON.parse(l) as TaskRow);
}

/** The name suffix of one running task of a global service (its node id prefix). */
async function firstTaskSuffix(cluster: string, service: string): Promise<string> {
  return (await taskRows(cluster, service))[0]!.Name.split('.')[1]!;
}

/** Waits until every task of `service` that should run runs and its health check passed; returns them. */
async function waitHealthy(cluster: string, service: string, signal: AbortSignal, timeoutMs = 90_000): Promise<TaskRow[]> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  for (;;) {
    signal.throwIfAborted();
    const rows = (await taskRows(cluster, service)).filter((t) => t.DesiredState === 'Running');
    seen = rows.map((t) => `${t.Name} ${t.CurrentState} ${t.Health ?? ''}`.trim()).join(', ');
    if (rows.length > 0 && rows.every((t) => t.CurrentState.startsWith('Running') && t.Health === 'healthy')) return rows;
    if (Date.now() > deadline) throw new Error(`${service} not healthy after ${timeoutMs / 1000} s (${seen})`);
    await sleep(500);
  }
}

/** An argument as a shell would need it typed (so a shown step can be pasted). */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export async function runDemo(io: Out, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { keep: { type: 'boolean' }, name: { type: 'string' } } });
  const name = values.name ?? 'demo';
  const stack = 'demo';
  const file = join(dev.REPO_ROOT, 'stack-examples', 'images.yml');
  // Ctrl-C reaches the running step too (one process group); the teardown below still runs.
  const interrupt = new AbortController();
  const onSigint = () => {
    if (!interrupt.signal.aborted) io.err('\ninterrupted: tearing down\n');
    interrupt.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  const run = async (title: string, argv: string[]) => {
    io.out(`\n$ meshctl ${argv.map(shellQuote).join(' ')}   # ${title}\n`);
    const res = await execa(meshctlArgv()[0]!, [...meshctlArgv().slice(1), ...argv], {
      reject: false,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { MESHD_DEV_CLUSTER: name },
    });
    if (res.exitCode !== 0) throw new Error(`meshctl ${argv.map(shellQuote).join(' ')} exited ${res.exitCode ?? res.signal}`);
  };
  const step = async (title: string, argv: string[]) => {
    interrupt.signal.throwIfAborted();
    await run(title, argv);
  };
  const note = (title: string) => io.out(`\n# ${title}\n`);

  let builder: ImageBuilder | undefined;
  let registry: DevRegistry | undefined;
  let clusterStarted = false;
  let code = 0;
  try {
    if (existsSync(dev.clusterDirFor(name))) {
      throw new Error(`a dev cluster named ${name} exists already: remove it (meshctl dev down --name ${name}) or pass --name OTHER`);
    }
    note(`build the images FROM scratch out of ${BUSYBOX} (podman, in a store of the demo's own; nothing is downloaded)`);
    builder = await ImageBuilder.create();
    const local: string[] = [];
    for (const recipe of DEMO_IMAGES) {
      interrupt.signal.throwIfAborted();
      local.push(await builder.build(recipe));
      io.out(`built ${local.at(-1)}\n`);
    }
    clusterStarted = true;
    await step(`a cluster of 3 nodes in network namespaces; their meshd pull from ${DEMO_REGISTRY} over plain HTTP`, [
      'dev', 'up', '--nodes', '3', '--name', name, '--', '--insecure-registry', DEMO_REGISTRY,
    ]);
    interrupt.signal.throwIfAborted();
    note(`a registry inside the cluster: docker-registry serve on ${DEMO_REGISTRY} (the underlay namespace), the images pushed to it`);
    const underlay = (await dev.loadCluster(name)).underlay.netns;
    registry = await DevRegistry.start({ netns: underlay, addr: DEMO_REGISTRY });
    io.out(`registry running (pid ${registry.pid})\n`);
    for (const image of local) {
      interrupt.signal.throwIfAborted();
      io.out(`pushed ${await builder.push(image, DEMO_REGISTRY, underlay)}\n`);
    }
    await step('the cluster', ['node', 'ls']);
    await step('deploy a stack that names only images: each node pulls what it runs from the registry', ['stack', 'deploy', '-c', file, stack]);
    await step('its containers, spread over every node', ['stack', 'ps', stack]);
    note("the web image's own HEALTHCHECK, run by each node's meshd: a replica takes traffic once it passes (service ps --format json shows Health)");
    const healthy = await waitHealthy(name, `${stack}_web`, interrupt.signal);
    io.out(`${healthy.map((t) => `${t.Name}: ${t.Health}`).sort().join(', ')}\n`);
    await step('the services', ['service', 'ls']);
    await step('inside a container: its hostname is the task name', ['task', 'exec', `${stack}_web.1`, '--', 'hostname']);
    // `web.`: busybox's nslookup would first try `web.<the part of the hostname after its first dot>`.
    await step('by name through the mesh, from inside a task: embedded DNS -> VIP -> a replica per request', [
      'task', 'exec', `${stack}_client.${await firstTaskSuffix(name, `${stack}_client`)}`, '--',
      'sh', '-c', 'nslookup web. | grep -A1 ^Name; for i in 1 2 3 4 5 6; do wget -q -O - http://web/; done',
    ]);
    await step('the routing mesh: published port 8080 answers on every node, from any replica', [
      'dev', 'exec', 'node-3', '--name', name, '--',
      'sh', '-c', 'for n in 11 12 13 11 12 13; do curl -s --max-time 2 http://172.30.0.$n:8080/; done',
    ]);
    await step('what the clients printed', ['service', 'logs', '--tail', '2', `${stack}_client`]);
    io.out('\nThe demo worked.\n');
  } catch (err) {
    io.err(`demo failed: ${(err as Error).message}\n`);
    code = 1;
  } finally {
    // Every part is undone, each even when another fails: registry, cluster, image store.
    const undo = async (what: () => Promise<unknown>) => {
      try {
        await what();
      } catch (err) {
        io.err(`teardown: ${(err as Error).message}\n`);
        code = 1;
      }
    };
    if (registry) {
      const pid = registry.pid;
      await undo(async () => {
        await registry!.stop();
        note(`registry ended (pid ${pid}), its storage removed`);
      });
    }
    if (clusterStarted && !values.keep && existsSync(dev.clusterDirFor(name))) await undo(() => run('tear it all down', ['dev', 'down', '--name', name]));
    if (clusterStarted && values.keep) io.out(`\nkept dev cluster ${name} (its nodes keep the images they pulled; the registry is gone): meshctl dev down --name ${name} removes it\n`);
    if (builder) {
      await undo(async () => {
        await builder!.remove();
        note(`the demo's image store removed (${builder!.dir})`);
      });
    }
    process.off('SIGINT', onSigint);
  }
  return code;
}
