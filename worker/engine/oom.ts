/**
 * Whether the kernel OOM-killed a process of a container. podman records it only where conmon can
 * watch the container's memory cgroup (not on this machine's cgroup v1 hybrid layout: State.OOMKilled
 * stays false), so meshd asks the kernel's own log: every memory-cgroup OOM kill is logged as an
 * `oom-kill:` record naming the cgroup of the killed task (`task_memcg=/meshd-…/libpod-<id>`).
 * Read right after the container exits with 137, the record is among the newest.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';

const RECORD_MAX = 8192;

/** The `oom-kill:` records of a kmsg stream's text records (`prio,seq,usec,flags;message`). */
export function oomKillRecords(records: readonly string[]): string[] {
  return records.map((r) => r.slice(r.indexOf(';') + 1)).filter((m) => m.startsWith('oom-kill:'));
}

/** Whether one of those records killed a task in the container's cgroup. */
export function oomKilledIn(records: readonly string[], containerId: string): boolean {
  return oomKillRecords(records).some((m) => /(?:^|,)task_memcg=([^,]*)/.exec(m)?.[1]?.includes(containerId) ?? false);
}

/** Every record the kernel log still holds (root only); empty when it cannot be read. */
export function readKernelLog(path = '/dev/kmsg'): string[] {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  const out: string[] = [];
  const buf = Buffer.alloc(RECORD_MAX);
  try {
    for (;;) {
      try {
        const n = readSync(fd, buf, 0, RECORD_MAX, null);
        if (n <= 0) break;
        out.push(buf.toString('utf8', 0, n).split('\n')[0]!);
      } catch (err) {
        // EPIPE: records were overwritten under us; the next read goes on from the oldest left.
        if ((err as NodeJS.ErrnoException).code === 'EPIPE') continue;
        break; // EAGAIN: nothing more
      }
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
