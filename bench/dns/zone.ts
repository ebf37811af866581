/**
 * The names both DNS servers serve, from one synthetic cluster: what the embedded DNS's name
 * table answers a client task with (`svcN`, `bench_svcN` -> VIP; `tasks.svcN` -> replicas),
 * the same data as unbound local-data, and the dnsperf query file.
 */
import { addrOf } from '../../core/ipnet.js';
import { buildNameTable, lookup, type NameTable } from '../../dns/names.js';
import { downNodeIds } from '../../core/serving.js';
import { syntheticCluster, type SyntheticCluster } from '../lib/records.js';

export const CLIENT_TASK_INDEX = 0;

export function dnsCluster(services: number): SyntheticCluster {
  return syntheticCluster({ services, replicas: 3, nodes: 5, networks: 1, stack: 'bench' });
}

/** The embedded DNS's name table for the cluster, as the worker's NameTableCache builds it. */
export function nameTableOf(c: SyntheticCluster): NameTable {
  return buildNameTable({ networks: c.networks, services: c.services, tasks: c.tasks, statuses: new Map(c.statuses.map((s) => [s.taskId, s])), downNodes: downNodeIds(c.nodes) });
}

/** name -> addresses, exactly as the embedded DNS answers them for the client task. */
export function expectedAnswers(c: SyntheticCluster): Map<string, string[]> {
  const table = nameTableOf(c);
  const client = c.tasks[CLIENT_TASK_INDEX]!.id;
  const out = new Map<string, string[]>();
  for (const svc of c.services) {
    const short = svc.name.slice(svc.stack.length + 1);
    for (const name of [short, svc.name, `tasks.${short}`]) {
      const r = lookup(table, { clientTaskId: client, qname: name, qtype: 'A', random: () => 0 });
      if (r.type !== 'answer') throw new Error(`dns zone: ${name} resolves to ${r.type}, not an answer`);
      out.set(name, [...r.addrs].sort());
    }
  }
  return out;
}

export function unboundConf(o: { addr: string; dir: string; answers: Map<string, string[]>; ttl: number }): string {
  const lines = [
    'server:',
    `  interface: ${o.addr}`,
    '  port: 53',
    '  do-ip6: no',
    '  num-threads: 1',
    '  username: ""',
    '  chroot: ""',
    `  directory: "${o.dir}"`,
    `  pidfile: "${o.dir}/unbound.pid"`,
    '  use-syslog: no',
    '  logfile: ""',
    '  verbosity: 0',
    '  access-control: 0.0.0.0/0 allow',
    '  module-config: "iterator"',
    '  so-reuseport: no',
    ...[...o.answers].flatMap(([name, addrs]) => addrs.map((a) => `  local-data: "${name}. ${o.ttl} IN A ${a}"`)),
    'remote-control:',
    '  control-enable: no',
  ];
  return lines.join('\n') + '\n';
}

export function queryFile(answers: Map<string, string[]>): string {
  return [...answers.keys()].map((n) => `${n} A`).join('\n') + '\n';
}

export { addrOf };
