import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SUMMARY = resolve(import.meta.dirname, '..', '..', 'scripts', 'test-summary.mjs');
const test = (fullName: string, status: string, failureMessages: string[] = [], meta = {}) => ({ ancestorTitles: [], fullName, title: fullName, status, failureMessages, meta, tags: [] });

describe('scripts/test-summary.mjs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-summary-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('names a test that passed only on a retry as flaky, and one that failed as failed, with its message up to the stack trace', async () => {
    const report = {
      numPassedTests: 3,
      numFailedTests: 1,
      testResults: [
        {
          name: 'a.test.ts',
          status: 'failed',
          assertionResults: [
            test('steady', 'passed'),
            test('flaky by errors', 'passed', ['AssertionError: expected 1 to be 2\n    at x']),
            test('flaky by meta', 'passed', [], { retryCount: 1 }),
            test('broken', 'failed', ['Error: meshctl stack rm pub exited 1:\nstack.rm timed out after 30000 ms\n\n    at x\n    at y']),
          ],
        },
      ],
    };
    await writeFile(join(dir, 'r.json'), JSON.stringify(report));
    const out = String((await execa(process.execPath, [SUMMARY, join(dir, 'r.json')])).stdout).split('\n');
    const f = join(dir, 'r.json');
    expect(out).toEqual([
      `FAILED (${f}): broken -- Error: meshctl stack rm pub exited 1: | stack.rm timed out after 30000 ms`,
      `FLAKY (${f}): flaky by errors -- passed only on a retry; first attempt: AssertionError: expected 1 to be 2`,
      `FLAKY (${f}): flaky by meta -- passed only on a retry`,
      '3 passed, 1 failed',
    ]);
  });
});
