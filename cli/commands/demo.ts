import { execa } from 'execa';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import * as dev from '../dev/index.js';
import type { CommandContext } from './context.js';
import { meshctlArgv } from './commands-argv.js';

type Out = Pick<CommandContext, 'out' | 'err'>;

/**
 * `meshctl demo`: a 3-node dev cluster, the example stack deployed, its tasks shown running on
 * every node and answering from inside their sandboxes, then everything torn down.
 */
async function capture(cluster: string, argv: string[]): Promise<string> {
  const res = await execa(meshctlArgv()[0]!, [...meshctlArgv().slice(1), ...argv], { env: { MESHD_DEV_CLUSTER: cluster } });
  return String(res.stdout);
}

/** The name suffix of one running task of a global service (its node id prefix). */
async function firstTaskSuffix(cluster: string, service: string): Promise<string> {
  const rows = (await capture(cluster, ['service', 'ps', service, '--format', 'json'])).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Name: string });
  return rows[0]!.Name.split('.')[1]!;
}

export async function runDemo(io: Out, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { keep: { type: 'boolean' }, name: { type: 'string' } } });
  const name = values.name ?? 'demo';
  const file = join(dev.REPO_ROOT, 'stack-examples', 'web.yml');
  const step = async (title: string, argv: string[]) => {
    io.out(`\n$ meshctl ${argv.join(' ')}   # ${title}\n`);
    const res = await execa(meshctlArgv()[0]!, [...meshctlArgv().slice(1), ...argv], {
      reject: false,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { MESHD_DEV_CLUSTER: name },
    });
    if (res.exitCode !== 0) throw new Error(`meshctl ${argv.join(' ')} exited ${res.exitCode}`);
  };
  let code = 0;
  try {
    await step('a cluster of 3 nodes in network namespaces', ['dev', 'up', '--nodes', '3', '--name', name]);
    await step('the cluster', ['node', 'ls']);
    await step('deploy the example stack', ['stack', 'deploy', '-c', file, 'web']);
    await step('its tasks, spread over every node', ['stack', 'ps', 'web']);
    await step('the services', ['service', 'ls']);
    await step('inside a task: its hostname is the task name', ['task', 'exec', 'web_api.1', '--', 'hostname']);
    await step('by name through the mesh: embedded DNS -> VIP -> every replica, on any node', [
      'task', 'exec', 'web_ticker.' + (await firstTaskSuffix(name, 'web_ticker')), '--',
      'sh', '-c', 'dig +short api; for i in 1 2 3 4 5 6; do curl -s --max-time 2 http://api:8080/; done',
    ]);
    await step('the routing mesh: published port 8080 answers on every node, from any replica', [
      'dev', 'exec', 'node-3', '--name', name, '--',
      'sh', '-c', 'for n in 11 12 13 11 12 13; do curl -s --max-time 2 http://172.30.0.$n:8080/; done',
    ]);
    await step('what the tasks printed', ['service', 'logs', '--tail', '2', 'web_ticker']);
    io.out('\nThe demo worked.\n');
  } catch (err) {
    io.err(`demo failed: ${(err as Error).message}\n`);
    code = 1;
  } finally {
    if (!values.keep) await step('tear it all down', ['dev', 'down', '--name', name]).catch((err: Error) => io.err(`${err.message}\n`));
  }
  return code;
}
