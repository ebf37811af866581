/**
 * Connections a leaving task still serves: the ESTABLISHED (and SYN_RECV: being accepted) TCP
 * connections on its ports, read from /proc/<pid>/net/tcp and tcp6, the tables of the task's own
 * network namespace (no process spawned). A task is stopped once they are gone, or at a bound.
 */
import { readFile } from 'node:fs/promises';
import { boundPorts } from './listening.js';

const OPEN_STATES = new Set(['01', '03']); // ESTABLISHED, SYN_RECV

/** Pure: connections in a /proc/net/tcp[6] table whose local port is one of `ports`, as `local -> remote` (hex, as the table has them). */
export function openConnections(table: string, ports: ReadonlySet<number>): string[] {
  const out: string[] = [];
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const [local, remote, state] = [f[1], f[2], f[3]];
    if (!local || !remote || !state || !OPEN_STATES.has(state)) continue;
    if (ports.has(parseInt(local.slice(local.lastIndexOf(':') + 1), 16))) out.push(`${local} -> ${remote}`);
  }
  return out;
}

/**
 * The task's inbound connections: on `ports` when given (its service's TCP target ports), else on
 * every port something in its namespace listens on. Undefined when the process is gone.
 */
export async function inboundConnections(pid: number, ports?: readonly number[]): Promise<string[] | undefined> {
  const tables: string[] = [];
  for (const file of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => undefined);
    if (text === undefined && file === 'tcp') return undefined;
    if (text !== undefined) tables.push(text);
  }
  const on = new Set(ports && ports.length > 0 ? ports : tables.flatMap((t) => [...boundPorts(t, 'tcp')]));
  return tables.flatMap((t) => openConnections(t, on));
}

/**
 * Waits until the task serves no inbound connection, its process is gone, or `timeoutMs` passed
 * (polled: the kernel has no event for it), or `signal` aborted; returns the connections still
 * open (empty: drained).
 */
export async function waitConnectionsClosed(pid: number, opts: { ports?: readonly number[]; timeoutMs: number; everyMs?: number; signal?: AbortSignal }): Promise<string[]> {
  const deadline = performance.now() + opts.timeoutMs;
  for (;;) {
    const open = await inboundConnections(pid, opts.ports);
    if (!open || open.length === 0) return [];
    if (performance.now() >= deadline || opts.signal?.aborted) return open;
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 50));
  }
}
