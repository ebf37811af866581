/**
 * A 5-node dev cluster for the bench (test/helpers/dev.ts's DevCluster, driven through the real
 * meshctl), plus the paths and lookups the rows need: node and task namespaces, VIPs, pids.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DevCluster, type TaskRow } from '../../test/helpers/dev.js';
import { inNs, sh } from '../lib/proc.js';

export const NODES = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5'];
export const nodeAddr = (node: string) => `172.30.0.${10 + Number(node.split('-')[1])}`;

export class BenchCluster {
  constructor(
    readonly dev: DevCluster,
    private readonly stackDir: string,
  ) {}

  get underlay(): string {
    return join(this.dev.dir, 'netns', 'underlay');
  }

  nodeNetns(node: string): string {
    return join(this.dev.dir, 'netns', node);
  }

  runDir(node: string): string {
    return join(this.dev.nodeDir(node), 'run');
  }

  taskNetns(t: Pick<TaskRow, 'ID' | 'Node'>): string {
    return join(this.runDir(t.Node), 'netns', `t_${t.ID.slice(0, 12)}`);
  }

  lbNetns(node: string, networkId: string): string {
    return join(this.runDir(node), 'netns', `lb_${networkId.slice(0, 12)}`);
  }

  async meshdPid(node: string): Promise<number> {
    return Number((await readFile(join(this.dev.nodeDir(node), 'meshd.pid'), 'utf8')).trim());
  }

  /** Writes the stack file and deploys it; `detach` returns once the state is written. */
  async deploy(stack: string, yaml: string, detach = true): Promise<number> {
    const file = join(this.stackDir, `${stack}.yml`);
    await writeFile(file, yaml);
    const t0 = performance.now();
    await this.dev.ok(['stack', 'deploy', ...(detach ? ['-d'] : []), '-c', file, stack], { timeoutMs: 600_000 });
    return performance.now() - t0;
  }

  async tasks(service: string): Promise<TaskRow[]> {
    return (await this.dev.list<TaskRow>(['service', 'ps', service])).filter((t) => t.DesiredState === 'Running');
  }

  async runningTasks(service: string): Promise<TaskRow[]> {
    return (await this.tasks(service)).filter((t) => t.CurrentState.startsWith('Running'));
  }

  async networkId(name: string): Promise<string> {
    const nets = await this.dev.list<{ ID: string; Name: string }>(['network', 'ls']);
    const n = nets.find((x) => x.Name === name);
    if (!n) throw new Error(`no network ${name}`);
    return n.ID;
  }

  async vip(service: string): Promise<string> {
    const [s] = JSON.parse(await this.dev.ok(['service', 'inspect', service])) as { Endpoint: { VirtualIPs: { Addr: string }[] } }[];
    const v = s?.Endpoint.VirtualIPs[0]?.Addr;
    if (!v) throw new Error(`${service} has no VIP`);
    return v.split('/')[0]!;
  }

  /** A task's address on its first network. */
  static addr(t: TaskRow): string {
    return t.Addresses[0]!.Addr.split('/')[0]!;
  }

  /** The task's DNS server: its default gateway (the node's gateway bridge address). */
  async dnsServer(t: TaskRow): Promise<string> {
    const out = (await sh(inNs(this.taskNetns(t), ['ip', '-j', 'route', 'show', 'default']))).stdout;
    const gw = (JSON.parse(out) as { gateway?: string }[])[0]?.gateway;
    if (!gw) throw new Error(`task ${t.Name} has no default route`);
    return gw;
  }
}
