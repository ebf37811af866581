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

  it('rotates while the task writes: bounded files, no hole, and logs read in order across files', async () => {
    const live = paths.taskLog(taskId);
    const limits = { maxSize: 8 * 1024, maxFiles: 3 };
    // Opened like task-process.ts opens a task's output: append mode, handed to the child.
    const fh = await open(live, 'a');
    const child = spawn('sh', ['-c', 'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done'], { stdio: ['ignore', fh.fd, fh.fd] });
    await fh.close();
    const exited = once(child, 'exit');
    let rotations = 0;
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      if (await rotateIfNeeded(live, limits)) rotations++;
      await new Promise((r) => setImmediate(r));
    }
    await exited;
    if (await rotateIfNeeded(live, limits)) rotations++;
    expect(rotations).toBeGreaterThanOrEqual(3);
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
    // The newest lines, in order, ending with the last one written (copy-truncate may drop lines
    // written between a copy and its truncate, never reorder them).
    expect(numbers.at(-1)).toBe(2999);
    for (let i = 1; i < numbers.length; i++) expect(numbers[i]!).toBeGreaterThan(numbers[i - 1]!);
    const [tail] = await readTaskLogs(paths, { taskIds: [taskId], tail: 5 }, limits.maxFiles);
    expect(tail!.lines).toEqual(['line 2995', 'line 2996', 'line 2997', 'line 2998', 'line 2999']);
  });
});
