/**
 * Readiness of a task's declared ports: a replica becomes a backend (status running) only once
 * something in its network namespace listens on each declared target port, so LBs never send a
 * connection to a replica whose server has not bound yet (it would be refused). Read from
 * /proc/<pid>/net/{tcp,tcp6,udp,udp6}: the tables of the process's own network namespace, with
 * no process spawned.
 */
import { readFile } from 'node:fs/promises';
import type { PortSpec, Protocol } from '../core/model.js';

const TCP_LISTEN = '0A';

/** Local ports in a /proc/net/{tcp,udp}[6] table: listening ones for tcp, bound ones for udp. */
export function boundPorts(table: string, protocol: Protocol): Set<number> {
  const ports = new Set<number>();
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const state = f[3];
    if (!local || !state) continue;
    if (protocol === 'tcp' && state !== TCP_LISTEN) continue;
    ports.add(parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
  }
  return ports;
}

/** Declared target ports nothing in the process's namespace is bound to yet, as `80/tcp`. */
export async function portsNotListening(pid: number, ports: readonly Pick<PortSpec, 'protocol' | 'target'>[]): Promise<string[]> {
  const bound: Record<Protocol, Set<number>> = { tcp: new Set(), udp: new Set() };
  for (const protocol of ['tcp', 'udp'] as const) {
    if (!ports.some((p) => p.protocol === protocol)) continue;
    for (const file of [protocol, `${protocol}6`]) {
      const text = await readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => '');
      for (const port of boundPorts(text, protocol)) bound[protocol].add(port);
    }
  }
  return ports.filter((p) => !bound[p.protocol].has(p.target)).map((p) => `${p.target}/${p.protocol}`);
}

/**
 * Waits until every declared port is bound, the process is gone, or `timeoutMs` passed; returns
 * the ports still not bound (empty = ready).
 */
export async function waitListening(pid: number, ports: readonly Pick<PortSpec, 'protocol' | 'target'>[], timeoutMs: number, everyMs = 25): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing = await portsNotListening(pid, ports);
    if (missing.length === 0 || Date.now() >= deadline) return missing;
    const alive = await readFile(`/proc/${pid}/stat`, 'utf8').then(() => true, () => false);
    if (!alive) return missing;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
