/** Row 9's report section from its runs (pure). */
import { dur, fmt } from '../lib/format.js';
import type { Section } from '../lib/report.js';
import { median } from '../lib/stats.js';
import type { LoopTally } from './loop.js';

/** Parallelism of each variant, in the order of the table; 0 is the all-at-once baseline. */
export const UPDATE_VARIANTS = [0, 1, 2, 5] as const;

export interface UpdateRun {
  parallelism: number;
  /** Repetition, from 0. */
  rep: number;
  /** Epoch ms meshctl started. */
  startedAt: number;
  /** meshctl service update's wall time, from its start to its exit (update completed). */
  wallMs: number;
  /** UpdateStatus StartedAt -> CompletedAt (the leader's clock). */
  statusMs: number;
  mesh: LoopTally;
  vip: LoopTally;
}

export interface UpdatesSetup {
  replicas: number;
  port: number;
  intervalMs: number;
  timeoutMs: number;
  reps: number;
  service: string;
}

const label = (p: number) =>
  p === 0 ? 'parallelism 0: all at once (the baseline: what meshd did before update_config)' : p === 1 ? "parallelism 1 (Docker's default, also with no update_config)" : `parallelism ${p}`;

function failedCell(runs: readonly UpdateRun[], loop: 'mesh' | 'vip'): string {
  const failed = runs.map((r) => r[loop].failures.length);
  const total = runs.reduce((n, r) => n + r[loop].requests, 0);
  const sum = failed.reduce((a, b) => a + b, 0);
  return `${fmt(sum)} of ${fmt(total)}${runs.length > 1 ? ` (${failed.join(', ')})` : ''}`;
}

/** `3 ECONNREFUSED, 1 timeout` */
export function failureKinds(tallies: readonly LoopTally[]): string {
  const counts = new Map<string, number>();
  for (const f of tallies.flatMap((t) => t.failures)) counts.set(f.error, (counts.get(f.error) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
}

/** When a loop's failures happened, from the command's start: `+3.1 s - +9.8 s` (for the log). */
export function failureSpan(t: LoopTally, startedAt: number): string {
  if (!t.failures.length) return 'none';
  const at = t.failures.map((f) => f.at - startedAt);
  return `+${dur(Math.min(...at))} - +${dur(Math.max(...at))}`;
}

export function updatesSection(runs: readonly UpdateRun[], s: UpdatesSetup): Section {
  const rows = UPDATE_VARIANTS.map((p) => {
    const of = runs.filter((r) => r.parallelism === p);
    const wall = of.map((r) => r.wallMs);
    return [
      label(p),
      String(of.length),
      of.length ? `${dur(median(wall))} (${dur(Math.min(...wall))} - ${dur(Math.max(...wall))})` : '—',
      of.length ? dur(median(of.map((r) => r.statusMs))) : '—',
      failedCell(of, 'mesh'),
      failedCell(of, 'vip'),
    ];
  });
  return {
    id: 'updates',
    title: 'Rolling updates (3-node dev cluster)',
    method:
      `One manager and two workers (\`meshctl dev up --nodes 3 --managers 1\`), nftables LB. A ${s.replicas}-replica command-task HTTP service (a Node HTTP server) publishing port ${s.port} in ingress mode and attached to an overlay with one client task. ` +
      `Each update is \`meshctl service update --env-add V=<n> --update-parallelism <P> ${s.service}\` (a new spec, so every replica is replaced; the rest of update_config at Docker's defaults: stop-first, delay 0, monitor 5 s). ` +
      `Docker's default when a service has no update_config is parallelism 1, and meshd follows Docker, so the all-at-once baseline is parallelism 0: what meshd did for every update before update_config existed. ` +
      `The variants alternate (${s.reps} repetitions, each starting one variant later), on the same cluster, each after the previous update's old replicas are gone and every node's LB holds the ${s.replicas} current ones. ` +
      `Duration is meshctl's wall time, from its start until it exits because the update completed (so it includes meshctl's start-up and the 5 s monitor period after the last batch); "UpdateStatus" is the leader's StartedAt -> CompletedAt. ` +
      `Two request loops run from just before the command until just after it exits, each a GET every ${s.intervalMs} ms on a new connection with a ${dur(s.timeoutMs)} limit, not waiting for the previous one: through the routing mesh from the underlay namespace (the published port of node-1, node-2 and node-3 in turn), and from inside the client task to the service's VIP by name (an A query for \`web\` to the node's DNS server before each request). A failed request is anything but a 200 within the limit.`,
    tables: [
      {
        columns: [`update of ${s.replicas} replicas`, 'reps', 'duration p50 (min - max)', 'UpdateStatus started -> completed, p50', ...(['routing mesh', 'VIP by name'].map((l) => `failed through the ${l}${s.reps > 1 ? ' (per rep)' : ''}`))],
        rows,
        limit:
          "Each batch waits until its new replicas run and serve in every node's LB (process start and each node's next data-plane sync, on 2 shared cores), and the update completes 5 s (monitor) after the last batch's replicas started. With parallelism 0 every old replica leaves at once (stop-first), so for a few seconds no replica serves and connections are refused: that is the cost the baseline shows. Otherwise a leaving replica is out of every node's LB before it is stopped, and a new one is selected only once it serves and the node's overlay knows the way to it; a failure there would be a refusal (a stopped replica still selected), a timeout while connecting (a SYN to a replica the node cannot reach yet), or a DNS query unanswered within the limit.",
      },
    ],
    notes: UPDATE_VARIANTS.map((p) => {
      const of = runs.filter((r) => r.parallelism === p);
      return `Failures at parallelism ${p}: routing mesh ${failureKinds(of.map((r) => r.mesh))}; VIP by name ${failureKinds(of.map((r) => r.vip))}.`;
    }),
  };
}
