import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { ValidationError } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import * as dev from '../dev/index.js';
import type { CommandContext } from './context.js';
import { meshctlArgv } from './commands-argv.js';

type Out = Pick<CommandContext, 'out' | 'err'>;

/** Waits until `node ls` (run in the underlay namespace) shows every node Ready. */
export async function waitNodesReady(cluster: dev.DevCluster, signal: AbortSignal): Promise<void> {
  const want = cluster.nodes.length;
  while (!signal.aborted) {
    const res = await execa('nsenter', [`--net=${cluster.underlay.netns}`, '--', ...meshctlArgv(), 'node', 'ls', '--format', 'json'], {
      reject: false,
      env: { [dev.UNDERLAY_ENV]: cluster.name, MESHD_DEV_CLUSTER: cluster.name, MESH_CONNECT_TIMEOUT_MS: '2000' },
      cancelSignal: signal,
    });
    if (res.exitCode === 0) {
      const rows = String(res.stdout).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Status: string });
      if (rows.length === want && rows.every((r) => r.Status === 'Ready')) return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}


function splitMeshdArgs(args: string[]): { own: string[]; meshd: string[] } {
  const i = args.indexOf('--');
  return i < 0 ? { own: args, meshd: [] } : { own: args.slice(0, i), meshd: args.slice(i + 1) };
}

function count(flag: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new ValidationError([`--${flag}: must be an integer from 1 to ${max}, got ${JSON.stringify(text)}`]);
  return n;
}

export async function devCommand(io: Out, args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  switch (verb) {
    case 'up': {
      const { own, meshd } = splitMeshdArgs(rest);
      const { values } = parseArgs({ args: own, options: { nodes: { type: 'string' }, managers: { type: 'string' }, name: { type: 'string' }, 'ready-timeout': { type: 'string' } } });
      const nodes = count('nodes', values.nodes, 3, dev.MAX_NODES);
      const managers = count('managers', values.managers, 1, nodes);
      const readyTimeoutMs = count('ready-timeout', values['ready-timeout'], dev.READY_TIMEOUT_MS / 1000, 3600) * 1000;
      io.out(`Creating dev cluster ${values.name ?? 'mesh'}: ${nodes} nodes, ${managers} manager(s)\n`);
      const cluster = await dev.devUp({ name: values.name, nodes, managers, meshdArgs: meshd, waitReady: waitNodesReady, readyTimeoutMs, log: createLogger() });
      io.out(`Dev cluster ${cluster.name} is ready: ${cluster.nodes.map((n) => `${n.hostname} (${n.role}, ${n.addr})`).join(', ')}\n`);
      return 0;
    }
    case 'down': {
      const { values } = parseArgs({ args: rest, options: { name: { type: 'string' } } });
      const report = await dev.devDown({ name: values.name });
      io.out(`Removed dev cluster ${report.name}\n`);
      return 0;
    }
    case 'ls':
      io.out(dev.formatDevList(await dev.devList()));
      return 0;
    case 'exec': {
      const { name, rest: r } = takeName(rest);
      const dash = r.indexOf('--');
      const node = r[0];
      const argv = dash >= 0 ? r.slice(dash + 1) : r.slice(1);
      if (!node || node === '--' || argv.length === 0) throw new ValidationError(['dev exec: usage: meshctl dev exec NODE -- CMD [ARG...]']);
      return dev.devExec(await dev.resolveCluster(name), node, argv);
    }
    case 'crash': {
      const { name, rest: r } = takeName(rest);
      if (r.length !== 1) throw new ValidationError(['dev crash: exactly one NODE argument is required']);
      const res = await dev.crashNode(await dev.resolveCluster(name), r[0]!);
      io.out(`Crashed ${r[0]} at ${new Date(res.at).toISOString()}: link down, ${res.killed.length} processes killed (meshd and its tasks)\n`);
      return 0;
    }
    case 'stop':
    case 'start':
    case 'kill': {
      const { name, rest: r } = takeName(rest);
      if (r.length !== 1) throw new ValidationError([`dev ${verb}: exactly one NODE argument is required`]);
      const cluster = await dev.resolveCluster(name);
      if (verb === 'start') io.out(`Started meshd on ${r[0]} (pid ${await dev.startNode(cluster, r[0]!)})\n`);
      else {
        const res = verb === 'stop' ? await dev.stopNode(cluster, r[0]!) : await dev.killNode(cluster, r[0]!);
        io.out(`${verb === 'stop' ? 'Stopped' : 'Killed'} meshd on ${r[0]} (${JSON.stringify(res)})\n`);
      }
      return 0;
    }
    default:
      throw new ValidationError([`dev: unknown command ${JSON.stringify(verb ?? '')}; expected up, down, ls, exec, stop, start, kill or crash`]);
  }
}

function takeName(args: string[]): { name?: string; rest: string[] } {
  const i = args.indexOf('--name');
  if (i < 0 || (args.indexOf('--') >= 0 && i > args.indexOf('--'))) return { rest: args };
  return { name: args[i + 1], rest: [...args.slice(0, i), ...args.slice(i + 2)] };
}
