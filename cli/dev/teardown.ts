import { rm } from 'node:fs/promises';
import { netnsMountsUnder, pidsInNetns } from '../../core/netns.js';
import { MeshError } from '../../core/errors.js';
import { mountsUnder, unmountAllUnder } from './mounts.js';
import { selfAndAncestors, signal, waitForExit } from './proc.js';

/**
 * Removes everything a dev cluster made under its directory without relying on meshd: every process
 * in any namespace held under the dir, every mount, then the dir itself.
 */

export const TERM_GRACE_MS = 5_000;
const KILL_WAIT_MS = 5_000;
const MAX_KILL_ROUNDS = 5;

export interface TeardownReport {
  /** Pids that were signalled. */
  killed: number[];
  /** Mount points that were unmounted. */
  unmounted: string[];
  dirRemoved: boolean;
}

/** Pids in any namespace mounted under dir, never this process or its ancestors. */
async function pidsUnder(dir: string, spare: ReadonlySet<number>): Promise<number[]> {
  const pids = await pidsInNetns(await netnsMountsUnder(dir));
  return pids.filter((p) => !spare.has(p));
}

/**
 * SIGTERM, wait up to 5 s, SIGKILL survivors, wait until gone; rescans because a dying daemon may
 * still have started something. Throws if processes survive every round.
 */
export async function killProcessesUnder(dir: string, graceMs = TERM_GRACE_MS): Promise<number[]> {
  const spare = await selfAndAncestors();
  const signalled = new Set<number>();
  for (let round = 0; round < MAX_KILL_ROUNDS; round++) {
    const pids = await pidsUnder(dir, spare);
    if (pids.length === 0) return [...signalled];
    for (const pid of pids) {
      signalled.add(pid);
      signal(pid, round === 0 ? 'SIGTERM' : 'SIGKILL');
    }
    const survivors = await waitForExit(pids, round === 0 ? graceMs : 0);
    for (const pid of survivors) signal(pid, 'SIGKILL');
    const stuck = await waitForExit(survivors, KILL_WAIT_MS);
    if (stuck.length > 0) throw new MeshError(`processes ${stuck.join(', ')} under ${dir} survived SIGKILL`);
  }
  const left = await pidsUnder(dir, spare);
  if (left.length > 0) throw new MeshError(`processes keep appearing in namespaces under ${dir}: ${left.join(', ')}`);
  return [...signalled];
}

/** Kills, unmounts (deepest first) and rm -rf's dir; never recurses into a mount that stayed. */
export async function teardownDir(dir: string): Promise<TeardownReport> {
  const killed = await killProcessesUnder(dir);
  const unmounted = await unmountAllUnder(dir);
  if ((await mountsUnder(dir)).length > 0) throw new MeshError(`mounts remain under ${dir}; not removing it`);
  await rm(dir, { recursive: true, force: true });
  return { killed, unmounted, dirRemoved: true };
}
