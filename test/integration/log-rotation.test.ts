import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunPaths } from '../../worker/paths.js';
import { logFiles, parseLogSize, rotateIfNeeded } from '../../worker/log-rotation.js';
import { readTaskLogs } from '../../worker/logs.js';

describe('task log rotation (a real process writing to its O_APPEND log, as tasks do)', () => {
  let dir: string;
  const taskId = 'abc123';
  let paths: RunPaths;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-logrot-'));
    paths = new RunPaths(dir);
    await mkdir(paths.taskDir(taskId), { recursive: true });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('parses docker sizes and refuses others', () => {
    expect([parseLogSize('10m'), parseLogSize('512k'), parseLogSize('1g'), parseLogSize('100')]).toEqual([10 * 1024 ** 2, 512 * 1024, 1024 ** 3, 100]);
    expect([parseLogSize('0'), parseLogSize('-1m'), parseLogSize('10mb'), parseLogSize('')]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('rotates while the task runs: bounded files, no hole, and logs read in order across files', async () => {
    const live = paths.taskLog(taskId);
    const limits = { maxSize: 4 * 1024, maxFiles: 3 };
    // Opened like task-process.ts opens a task's output: append mode, handed to the child, which
    // keeps writing to it across rotations. It echoes what the test feeds it, in batches, so each
    // rotation happens between two batches (deterministic; no timing race with the writer).
    const fh = await open(live, 'a');
    const child = spawn('sh', ['-c', 'while read l; do echo "$l"; done'], { stdio: ['pipe', fh.fd, fh.fd] });
    await fh.close();
    let rotations = 0;
    try {
      for (let batch = 0; batch < 30; batch++) {
        const lines = Array.from({ length: 100 }, (_, i) => `line ${batch * 100 + i}`);
        child.stdin!.write(lines.join('\n') + '\n');
        const lastLine = `${lines.at(-1)}\n`;
        const deadline = Date.now() + 10_000;
        while (!(await readFile(live, 'utf8')).endsWith(lastLine)) {
          if (Date.now() > deadline) throw new Error(`the writer did not write batch ${batch}`);
          await new Promise((r) => setTimeout(r, 10));
        }
        if (await rotateIfNeeded(live, limits)) rotations++;
      }
    } finally {
      child.stdin!.end();
      await once(child, 'exit');
    }
    expect(rotations).toBeGreaterThanOrEqual(5);
    const files = logFiles(live, limits.maxFiles);
    expect(files.map((f) => f.slice(live.length))).toEqual(['.2', '.1', '']);
    for (const f of files) {
      const text = await readFile(f, 'utf8');
      // Append mode: after a truncate the writer continues at the new end, never past a hole.
      expect(text.includes('\0')).toBe(false);
      expect((await stat(f)).size).toBeLessThan(limits.maxSize * 2);
    }
    await expect(stat(`${live}.3`)).rejects.toThrow();
    const [read] = await readTaskLogs(paths, { taskIds: [taskId] }, limits.maxFiles);
    const numbers = read!.lines.map((l) => Number(/^line (\d+)$/.exec(l)?.[1]));
    expect(numbers.every((n) => Number.isInteger(n))).toBe(true);
    // The newest lines, contiguous and in order, ending with the last one written.
    expect(numbers.at(-1)).toBe(2999);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => 3000 - numbers.length + i));
    expect(numbers.length).toBeGreaterThan(200);
    const [tail] = await readTaskLogs(paths, { taskIds: [taskId], tail: 5 }, limits.maxFiles);
    expect(tail!.lines).toEqual(['line 2995', 'line 2996', 'line 2997', 'line 2998', 'line 2999']);
  });
});
