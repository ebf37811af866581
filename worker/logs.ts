import { open } from 'node:fs/promises';
import type { RunPaths } from './paths.js';
import { NATS_MAX_PAYLOAD } from '../core/wire/limits.js';

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

/** Reads captured task output for `meshctl service logs` (the last 4 MiB per task, less when the reply would not fit in one message). */
export async function readTaskLogs(paths: RunPaths, req: LogRequest): Promise<TaskLog[]> {
  const out: TaskLog[] = [];
  const perTask = Math.min(MAX_BYTES, Math.floor(REPLY_BUDGET / Math.max(1, req.taskIds.length)));
  for (const taskId of req.taskIds) {
    if (!/^[0-9a-f]+$/.test(taskId)) continue;
    let text = '';
    try {
      const fh = await open(paths.taskLog(taskId), 'r');
      try {
        const { size } = await fh.stat();
        const start = Math.max(0, size - perTask);
        const buf = Buffer.alloc(size - start);
        await fh.read(buf, 0, buf.length, start);
        text = buf.toString('utf8');
      } finally {
        await fh.close();
      }
    } catch {
      continue;
    }
    let lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (req.tail !== undefined) lines = lines.slice(-req.tail);
    out.push({ taskId, lines });
  }
  return out;
}
