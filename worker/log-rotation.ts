import { copyFile, readdir, rename, stat, truncate } from 'node:fs/promises';
import type { Logger } from '../core/log.js';
import type { RunPaths } from './paths.js';

export interface LogLimits {
  /** Rotate a task's log once it reaches this many bytes. */
  maxSize: number;
  /** Files kept per task, the live one included (docker's `max-file`): `task.log`, `.1` ... `.N-1`. */
  maxFiles: number;
}

/**
 * Defaults: 10 MiB and 3 files, the values Docker's documentation uses for json-file's
 * `max-size`/`max-file` (json-file's own defaults, unlimited and 1, would not bound anything).
 * At most ~30 MiB per task, plus what a task writes between two checks.
 */
export const DEFAULT_LOG_LIMITS: LogLimits = { maxSize: 10 * 1024 * 1024, maxFiles: 3 };
export const ROTATE_CHECK_MS = 2_000;

/** docker's size syntax: a number with an optional b/k/m/g suffix (`10m`). */
export function parseLogSize(text: string): number | undefined {
  const m = /^(\d+)([bkmg]?)$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * unit;
  return n > 0 ? n : undefined;
}

/** The files of a task's log, oldest first: `task.log.N-1` ... `task.log.1`, `task.log`. */
export function logFiles(live: string, maxFiles: number): string[] {
  const rotated = Array.from({ length: Math.max(0, maxFiles - 1) }, (_, i) => `${live}.${maxFiles - 1 - i}`);
  return [...rotated, live];
}

/**
 * Copy-truncate rotation. A task's stdout/stderr is its log file opened O_APPEND, and the task
 * outlives meshd (live restore), so meshd cannot reopen the task's descriptor: it shifts the
 * rotated files, copies the live file to `.1` and truncates it to zero; the task's next append
 * lands at the new end. Lines written between the copy and the truncate are lost (logrotate's
 * copytruncate has the same window: milliseconds at 10 MiB).
 */
export async function rotateIfNeeded(live: string, limits: LogLimits): Promise<boolean> {
  const size = await stat(live).then((s) => s.size, () => 0);
  if (size < limits.maxSize) return false;
  const files = logFiles(live, limits.maxFiles);
  for (let i = 0; i < files.length - 2; i++) await rename(files[i + 1]!, files[i]!).catch(() => undefined);
  if (limits.maxFiles > 1) await copyFile(live, `${live}.1`);
  await truncate(live, 0);
  return true;
}

/** Checks every task's log on this node every ROTATE_CHECK_MS. */
export class LogRotator {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly opts: { paths: RunPaths; limits: LogLimits; log: Logger; everyMs?: number }) {}

  start(): void {
    this.timer = setInterval(() => void this.checkAll(), this.opts.everyMs ?? ROTATE_CHECK_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async checkAll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const ids = await readdir(this.opts.paths.tasksDir).catch(() => [] as string[]);
      for (const id of ids) {
        try {
          if (await rotateIfNeeded(this.opts.paths.taskLog(id), this.opts.limits)) this.opts.log.debug('task log rotated', { task: id });
        } catch (err) {
          this.opts.log.warn('task log rotation failed', { task: id, err });
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
