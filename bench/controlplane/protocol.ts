/** Messages between the simulation's coordinator (sim.ts) and its worker hosts (sim-worker.ts). */

export interface Expect {
  networks: number;
  services: number;
  tasks: number;
  lbaddrs: number;
}

export type ToHost =
  | { type: 'start'; url: string; workers: string[]; expect: Expect }
  /** Report when every worker's services mirror holds `key` at `revision` or later. */
  | { type: 'watch'; key: string; revision: number }
  | { type: 'stop' };

export type FromHost =
  /** Every worker of the host is connected and its mirrors hold their first snapshot. */
  | { type: 'ready'; at: number[] }
  /** Every worker of the host holds the full desired state: when each got there (epoch ms). */
  | { type: 'full'; at: number[] }
  | { type: 'seen'; key: string; at: number[] }
  | { type: 'stopped'; warnings: Record<string, number> }
  | { type: 'error'; message: string };

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
