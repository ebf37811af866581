import { execa } from 'execa';
import { environOf } from '../core/proc.js';
import type { Healthcheck } from '../core/model.js';
import type { TaskUser } from '../core/task-user.js';
import { containerEnterArgv, taskEnterArgv } from './task-process.js';

export type Health = 'starting' | 'healthy' | 'unhealthy';

/** Docker's health state machine as a pure step: the next state after one probe result. */
export function nextHealth(opts: {
  current: Health;
  ok: boolean;
  failures: number;
  retries: number;
  inStartPeriod: boolean;
}): { health: Health; failures: number } {
  if (opts.ok) return { health: 'healthy', failures: 0 };
  // Failures during the start period do not count, unless the task was already healthy.
  if (opts.inStartPeriod && opts.current === 'starting') return { health: 'starting', failures: 0 };
  const failures = opts.failures + 1;
  return { health: failures >= opts.retries ? 'unhealthy' : opts.current, failures };
}

/** Runs one probe inside the task's namespaces, as its user and with its capabilities and environment. */
export async function probe(pid: number, check: Healthcheck, where: { user?: TaskUser; container?: boolean } = {}): Promise<boolean> {
  if (check.test.type === 'none') return true;
  const argv = check.test.type === 'cmd' ? check.test.argv : ['sh', '-c', check.test.script];
  try {
    const [cmd, ...args] = where.container ? await containerEnterArgv(pid, argv) : taskEnterArgv(pid, argv, where.user);
    const res = await execa(cmd!, args, {
      reject: false,
      timeout: check.timeoutMs,
      // Past its timeout the probe is killed outright; its output is not kept, so a process it
      // left behind holding a pipe cannot keep the probe (and so the task's health) waiting.
      killSignal: 'SIGKILL',
      stdout: 'ignore',
      stderr: 'ignore',
      env: await environOf(pid),
      extendEnv: false,
      stdin: 'ignore',
    });
    return res.exitCode === 0 && !res.timedOut;
  } catch {
    return false;
  }
}

/**
 * A task's health check loop: probes every interval, reports each change of state. Stops when
 * told to; never overlaps probes.
 */
export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private health: Health = 'starting';
  private failures = 0;
  private stopped = false;
  private readonly startedAt = Date.now();

  /**
   * `initial` is `starting` for a new process; a process adopted after a meshd restart keeps
   * serving as `healthy` and is probed at once, so a restart does not take replicas away.
   */
  private readonly pid: number;
  private readonly check: Healthcheck;
  private readonly user: TaskUser | undefined;
  private readonly container: boolean;

  constructor(
    opts: { pid: number; check: Healthcheck; user?: TaskUser; initial?: Health; container?: boolean },
    private readonly onChange: (h: Health) => void,
  ) {
    this.pid = opts.pid;
    this.check = opts.check;
    this.user = opts.user;
    this.container = opts.container ?? false;
    this.health = opts.initial ?? 'starting';
  }

  start(): void {
    if (this.health === 'starting') this.schedule();
    else this.timer = setTimeout(() => void this.tick(), 0);
  }

  /** The state after the last probe (what a report of the task's state must carry). */
  get current(): Health {
    return this.health;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.check.intervalMs);
  }

  private async tick(): Promise<void> {
    const ok = await probe(this.pid, this.check, { ...(this.user && { user: this.user }), container: this.container });
    if (this.stopped) return;
    const next = nextHealth({
      current: this.health,
      ok,
      failures: this.failures,
      retries: this.check.retries,
      inStartPeriod: Date.now() - this.startedAt < this.check.startPeriodMs,
    });
    this.failures = next.failures;
    if (next.health !== this.health) {
      this.health = next.health;
      this.onChange(next.health);
    }
    this.schedule();
  }
}
