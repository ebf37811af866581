import { open, readFile } from 'node:fs/promises';
import { textOfK8sFile } from './engine/container-log.js';
import type { RunPaths } from './paths.js';
import { NATS_MAX_PAYLOAD } from '../core/wire/limits.js';
import { DEFAULT_LOG_LIMITS, logFiles } from './log-rotation.js';

export interface LogRequest {
  taskIds: string[];
  /** Last N lines per task; all when absent. */
  tail?: number;
}

export interface TaskLog {
  taskId: string;
  lines: string[];
}

const MAX_BYTES = 4 * 1024 * 1024;
/** The whole reply must fit in one NATS message (max_payload, core/wire/limits.ts), with room for JSON. */
const REPLY_BUDGET = NATS_MAX_PAYLOAD / 2;

/**
 * Reads captured task output for `meshctl service logs`, across the rotated files (oldest first),
 * bounded to the last 4 MiB per task (less when the reply would not fit in one NATS message).
 */
export async function readTaskLogs(paths: RunPaths, req: LogRequest, maxFiles = DEFAULT_LOG_LIMITS.maxFiles): Promise<TaskLog[]> {
  const out: TaskLog[] = [];
  const perTask = Math.min(MAX_BYTES, Math.floor(REPLY_BUDGET / Math.max(1, req.taskIds.length)));
  for (const taskId of req.taskIds) {
    if (!/^[0-9a-f]+$/.test(taskId)) continue;
    const raw = await readTail(logFiles(paths.taskLog(taskId), maxFiles), perTask);
    if (raw === undefined) continue;
    const text = (await runsContainer(paths, taskId)) ? textOfK8sFile(raw) : raw;
    let lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (req.tail !== undefined) lines = lines.slice(-req.tail);
    out.push({ taskId, lines });
  }
  return out;
}

/** The last `budget` bytes of the files taken in order; undefined when the live (last) one is missing. */
async function readTail(files: readonly string[], budget: number): Promise<string | undefined> {
  const parts: Buffer[] = [];
  let left = budget;
  for (let i = files.length - 1; i >= 0 && left > 0; i--) {
    try {
      const fh = await open(files[i]!, 'r');
      try {
        const { size } = await fh.stat();
        const start = Math.max(0, size - left);
        const buf = Buffer.alloc(size - start);
        await fh.read(buf, 0, buf.length, start);
        parts.unshift(buf);
        left -= buf.length;
      } finally {
        await fh.close();
      }
    } catch {
      if (i === files.length - 1) return undefined;
    }
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Whether the task's output is a container's (k8s-file records) rather than a process's own. */
async function runsContainer(paths: RunPaths, taskId: string): Promise<boolean> {
  try {
    return typeof (JSON.parse(await readFile(paths.taskState(taskId), 'utf8')) as { containerId?: unknown }).containerId === 'string';
  } catch {
    return false;
  }
}
