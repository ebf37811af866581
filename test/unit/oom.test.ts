import { describe, expect, it } from 'vitest';
import { oomKilledIn, oomKillRecords } from '../../worker/engine/oom.js';

const ID = 'a'.repeat(64);
const RECORDS = [
  '6,100,64000000,-;meshgw0: port 2(g1) entered forwarding state',
  `4,101,64741450568,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/meshd-1f2e/libpod-${ID},task_memcg=/meshd-1f2e/libpod-${ID},task=dd,pid=22800,uid=0`,
  '3,102,64741450589,-;Memory cgroup out of memory: Killed process 22800 (dd) total-vm:67804kB',
];

describe('OOM kills from the kernel log (podman 4.3 on cgroup v1 does not record them)', () => {
  it("finds the oom-kill record of a container's cgroup", () => {
    expect(oomKillRecords(RECORDS)).toHaveLength(1);
    expect(oomKilledIn(RECORDS, ID)).toBe(true);
  });

  it('does not blame a container whose cgroup the record does not name', () => {
    expect(oomKilledIn(RECORDS, 'b'.repeat(64))).toBe(false);
    // The cgroup that hit its limit (oom_memcg) is not the killed task's own: only task_memcg counts.
    expect(oomKilledIn([`4,1,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/meshd-1f2e/libpod-${ID},task_memcg=/other,task=x,pid=1,uid=0`], ID)).toBe(false);
    expect(oomKilledIn([], ID)).toBe(false);
  });
});
