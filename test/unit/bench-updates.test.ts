import { describe, expect, it } from 'vitest';
import { renderTable } from '../../bench/lib/report.js';
import { updatesSection, type UpdateRun } from '../../bench/updates/section.js';

const tally = (requests: number, errors: string[]) => ({ requests, failures: errors.map((error, i) => ({ at: i, error })) });
const run = (parallelism: number, rep: number, wallMs: number, mesh: string[], vip: string[]): UpdateRun => ({ parallelism, rep, startedAt: 0, wallMs, statusMs: wallMs - 1_000, mesh: tally(1_000, mesh), vip: tally(990, vip) });
const SETUP = { replicas: 10, port: 18090, intervalMs: 20, timeoutMs: 1_000, reps: 2, service: 'u_web' };

describe('bench row 9: rolling updates section', () => {
  it('puts the all-at-once baseline (parallelism 0) next to 1, 2 and 5, with failed requests per loop and per rep', () => {
    const runs = [
      run(0, 0, 25_000, ['ECONNREFUSED', 'ECONNREFUSED'], ['ECONNREFUSED']),
      run(1, 0, 47_000, [], []),
      run(2, 0, 33_000, ['timeout'], []),
      run(5, 0, 30_000, [], ['dns timeout']),
      run(1, 1, 45_000, [], []),
      run(2, 1, 35_000, [], []),
      run(5, 1, 28_000, [], []),
      run(0, 1, 23_000, ['ECONNREFUSED'], []),
    ];
    const s = updatesSection(runs, SETUP);
    expect(renderTable(s.tables[0]!).split('\n').slice(0, 6)).toEqual([
      '| update of 10 replicas | reps | duration p50 (min - max) | UpdateStatus started -> completed, p50 | failed through the routing mesh (per rep) | failed through the VIP by name (per rep) |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      '| parallelism 0: all at once (the baseline: what meshd did before update_config) | 2 | 24 s (23 s - 25 s) | 23 s | 3 of 2,000 (2, 1) | 1 of 1,980 (1, 0) |',
      "| parallelism 1 (Docker's default, also with no update_config) | 2 | 46 s (45 s - 47 s) | 45 s | 0 of 2,000 (0, 0) | 0 of 1,980 (0, 0) |",
      '| parallelism 2 | 2 | 34 s (33 s - 35 s) | 33 s | 1 of 2,000 (1, 0) | 0 of 1,980 (0, 0) |',
      '| parallelism 5 | 2 | 29 s (28 s - 30 s) | 28 s | 0 of 2,000 (0, 0) | 1 of 1,980 (1, 0) |',
    ]);
    expect(s.notes).toEqual([
      'Failures at parallelism 0: routing mesh 3 ECONNREFUSED; VIP by name 1 ECONNREFUSED.',
      'Failures at parallelism 1: routing mesh none; VIP by name none.',
      'Failures at parallelism 2: routing mesh 1 timeout; VIP by name none.',
      'Failures at parallelism 5: routing mesh none; VIP by name 1 dns timeout.',
    ]);
  });
});
