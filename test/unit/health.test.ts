import { describe, expect, it } from 'vitest';
import { nextHealth, type Health } from '../../worker/health.js';

/** Runs a sequence of probe results through the health state machine. */
function runProbes(results: boolean[], opts: { retries: number; startPeriodProbes?: number }): Health[] {
  let health: Health = 'starting';
  let failures = 0;
  return results.map((ok, i) => {
    ({ health, failures } = nextHealth({ current: health, ok, failures, retries: opts.retries, inStartPeriod: i < (opts.startPeriodProbes ?? 0) }));
    return health;
  });
}

describe('health state machine (Docker semantics)', () => {
  it('turns healthy on the first success and unhealthy after `retries` consecutive failures', () => {
    expect(runProbes([true, false, false, false, true], { retries: 3 })).toEqual(['healthy', 'healthy', 'healthy', 'unhealthy', 'healthy']);
  });

  it('stays starting while it has never succeeded and failures are below retries', () => {
    expect(runProbes([false, false, false], { retries: 3 })).toEqual(['starting', 'starting', 'unhealthy']);
  });

  it('does not count failures during the start period', () => {
    expect(runProbes([false, false, false, false], { retries: 2, startPeriodProbes: 2 })).toEqual(['starting', 'starting', 'starting', 'unhealthy']);
  });

  it('resets the failure count on success', () => {
    expect(runProbes([true, false, true, false, false], { retries: 2 })).toEqual(['healthy', 'healthy', 'healthy', 'healthy', 'unhealthy']);
  });
});
