import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCluster } from './cluster.js';
import { runningPid } from './node-process.js';
import { CLUSTER_NAME_RE, devHome, readCurrent } from './paths.js';

/** `meshctl dev ls`: every cluster under the dev home, with the current marker. */

export interface DevClusterSummary {
  name: string;
  dir: string;
  current: boolean;
  /** False when cluster.json is missing or unreadable (a half-made cluster: run dev down). */
  complete: boolean;
  nodes: number;
  managers: number;
  /** Nodes whose meshd is running. */
  running: number;
}

async function summarize(name: string, current: string | undefined): Promise<DevClusterSummary> {
  const base = { name, dir: join(devHome(), name), current: name === current };
  try {
    const cluster = await loadCluster(name);
    let running = 0;
    for (const node of cluster.nodes) if ((await runningPid(node)) !== undefined) running++;
    const managers = cluster.nodes.filter((n) => n.role === 'manager').length;
    return { ...base, complete: true, nodes: cluster.nodes.length, managers, running };
  } catch {
    return { ...base, complete: false, nodes: 0, managers: 0, running: 0 };
  }
}

export async function devList(): Promise<DevClusterSummary[]> {
  let entries;
  try {
    entries = await readdir(devHome(), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const current = await readCurrent();
  const names = entries.filter((e) => e.isDirectory() && CLUSTER_NAME_RE.test(e.name)).map((e) => e.name).sort();
  return Promise.all(names.map((n) => summarize(n, current)));
}

/** A plain table: `*` marks the current cluster. */
export function formatDevList(rows: readonly DevClusterSummary[]): string {
  const lines = ['CURRENT  NAME              NODES  MANAGERS  RUNNING  STATUS'];
  for (const r of rows) {
    const status = r.complete ? (r.running === r.nodes ? 'up' : 'degraded') : 'incomplete (run: meshctl dev down --name ' + r.name + ')';
    lines.push(
      `${(r.current ? '*' : '').padEnd(9)}${r.name.padEnd(18)}${String(r.nodes).padEnd(7)}${String(r.managers).padEnd(10)}${String(r.running).padEnd(9)}${status}`,
    );
  }
  return lines.join('\n');
}
