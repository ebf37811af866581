import { describe, expect, it } from 'vitest';
import { LivenessMonitor, livenessTimes, planLiveness, type LivenessInput, type ProbeState } from '../../manager/liveness.js';
import type { NodeRecord } from '../../core/model.js';
import type { Logger } from '../../core/log.js';

const node = (id: string, status: NodeRecord['status'] = 'ready'): NodeRecord =>
  ({ id, hostname: id, role: 'worker', runsTasks: true, addr: '172.30.0.1', labels: {}, status, statusMessage: '', joinedAt: '', updatedAt: '' }) as NodeRecord;

const times = livenessTimes(2_000);
const input = (over: Partial<LivenessInput>): LivenessInput => ({
  now: 10_000,
  nodes: [node('a')],
  lastSeen: new Map([['a', 10_000]]),
  graceUntil: new Map(),
  probes: new Map(),
  leaderSince: 0,
  blindUntil: 0,
  times,
  ...over,
});

describe('planLiveness', () => {
  it('derives suspect and probe times from --node-down-after', () => {
    expect(livenessTimes(2_000)).toEqual({ downAfterMs: 2_000, suspectAfterMs: 1_200, probeTimeoutMs: 500, blindMs: 800 });
    expect(livenessTimes(1_000)).toEqual({ downAfterMs: 1_000, suspectAfterMs: 500, probeTimeoutMs: 500, blindMs: 800 });
    expect(livenessTimes(24_000).suspectAfterMs).toBe(23_200);
  });

  it('does nothing for a node heard from recently', () => {
    expect(planLiveness(input({ lastSeen: new Map([['a', 9_000]]) }))).toEqual({ probe: [], clear: [], down: [], ready: [] });
  });

  it('probes a node silent past suspectAfter, once at a time', () => {
    expect(planLiveness(input({ lastSeen: new Map([['a', 8_700]]) })).probe).toEqual(['a']);
    expect(planLiveness(input({ lastSeen: new Map([['a', 8_700]]), probes: new Map([['a', { inFlight: true }]]) })).probe).toEqual([]);
  });

  it('never calls a node down on silence alone: a probe sent after its last sign of life must have gone unanswered', () => {
    const silent = { lastSeen: new Map([['a', 7_900]]) };
    expect(planLiveness(input(silent)).down).toEqual([]);
    expect(planLiveness(input({ ...silent, probes: new Map([['a', { inFlight: true }]]) })).down).toEqual([]);
    // A failure from before the node's last sign of life is old news.
    expect(planLiveness(input({ ...silent, probes: new Map<string, ProbeState>([['a', { inFlight: false, failedAt: 7_800 }]]) })).down).toEqual([]);
    const plan = planLiveness(input({ ...silent, probes: new Map<string, ProbeState>([['a', { inFlight: false, failedAt: 9_500 }]]) }));
    expect(plan.down.map((d) => [d.node.id, d.message])).toEqual([['a', 'no heartbeat for 2100 ms, probe unanswered']]);
  });

  it('judges nobody while blind after its own stall, and nobody within downAfter of becoming leader', () => {
    const failed = { lastSeen: new Map([['a', 7_000]]), probes: new Map<string, ProbeState>([['a', { inFlight: false, failedAt: 9_900 }]]) };
    expect(planLiveness(input({ ...failed, blindUntil: 10_500 })).down).toEqual([]);
    expect(planLiveness(input({ ...failed, leaderSince: 9_000 })).down).toEqual([]);
    expect(planLiveness(input(failed)).down).toHaveLength(1);
  });

  it('leaves a gracefully restarting node alone and forgets its probe', () => {
    const plan = planLiveness(input({ lastSeen: new Map([['a', 5_000]]), graceUntil: new Map([['a', 20_000]]), probes: new Map([['a', { inFlight: false, failedAt: 9_000 }]]) }));
    expect(plan).toEqual({ probe: [], clear: ['a'], down: [], ready: [] });
  });

  it('marks a down node ready when it is heard from again, and only then', () => {
    expect(planLiveness(input({ nodes: [node('a', 'down')], lastSeen: new Map([['a', 9_800]]) })).ready.map((n) => n.id)).toEqual(['a']);
    expect(planLiveness(input({ nodes: [node('a', 'down')], lastSeen: new Map([['a', 7_000]]) })).ready).toEqual([]);
  });
});

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, child: () => quiet };

describe('LivenessMonitor', () => {
  const setup = (answer: boolean | (() => Promise<boolean>)) => {
    const clock = { now: 0 };
    const nodes = [node('a')];
    const lastSeen = new Map([['a', 1_000]]);
    const changes: string[] = [];
    const m = new LivenessMonitor({
      times,
      lastSeen,
      graceUntil: new Map(),
      nodes: () => nodes,
      probe: typeof answer === 'function' ? answer : async () => answer,
      setStatus: async (n, status) => {
        changes.push(`${n.id} ${status} at ${clock.now}`);
        n.status = status;
      },
      log: quiet,
      clock: () => clock.now,
    });
    m.becameLeader(0);
    /** A check at `t`, then the probe's answer (a resolved promise) comes in. */
    const tick = async (t: number) => {
      clock.now = t;
      await m.check(t);
      await new Promise((r) => setTimeout(r, 0));
    };
    return { tick, lastSeen, changes };
  };

  it('calls a silent node that does not answer down once downAfter has passed', async () => {
    const { tick, changes } = setup(false);
    for (let t = 100; t <= 4_000; t += 100) await tick(t);
    // Last heard at 1_000: suspect after 2_200, down at the first check after 3_000.
    expect(changes).toEqual(['a down at 3100']);
  });

  it('keeps an unanswered probe counting while the next one is still out', async () => {
    let calls = 0;
    // The first probe fails; every later one hangs (a dead TCP peer: only its timeout ends it).
    const { tick, changes } = setup(() => (calls++ === 0 ? Promise.resolve(false) : new Promise<boolean>(() => {})));
    for (let t = 100; t <= 3_200; t += 100) await tick(t);
    expect(changes).toEqual(['a down at 3100']);
  });

  it('does not call down a silent node that answers its probe', async () => {
    const { tick, lastSeen, changes } = setup(true);
    for (let t = 100; t <= 4_000; t += 100) await tick(t);
    expect(changes).toEqual([]);
    expect(lastSeen.get('a')).toBeGreaterThan(3_000);
  });

  it("judges nobody right after the leader's own check loop stalled, then still detects the dead", async () => {
    const { tick, changes } = setup(false);
    for (let t = 100; t <= 2_200; t += 100) await tick(t);
    // The leader is starved for 1.5 s: silence it could not have heard through is not the node's.
    for (let t = 3_700; t <= 4_500; t += 100) await tick(t);
    expect(changes).toEqual([]);
    await tick(4_600);
    expect(changes).toEqual(['a down at 4600']);
  });
});
