// Reads a vitest JSON report (`--outputFile.json`) into what CI and the VM lane count.
import { readFileSync } from 'node:fs';

/**
 * @param {string} file a vitest JSON report
 * @returns {{ passed: number, failed: number, failures: { name: string, message: string }[], flaky: { name: string, message: string }[] }}
 *   A suite that failed without any test result (its beforeAll threw, or it did not load)
 *   counts as one failure. `flaky` names the tests that passed only on a retry: vitest keeps the
 *   errors of the failed attempts on a test that passes later (`failureMessages` of a passed
 *   test), and a `meta.retryCount` above 0 says the same. Throws when the file is missing or not JSON.
 */
export function readVitestReport(file) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  let passed = report.numPassedTests ?? 0;
  let failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
  const failures = [];
  const flaky = [];
  for (const suite of report.testResults ?? []) {
    const results = suite.assertionResults ?? [];
    if (suite.status === 'failed' && results.length === 0) {
      failed++;
      failures.push({ name: suite.name ?? '(a test file)', message: headOf(suite.message) });
    }
    for (const t of results) {
      if (t.status === 'failed') failures.push({ name: t.fullName, message: headOf((t.failureMessages ?? [])[0]) });
      else if (t.status === 'passed' && ((t.failureMessages ?? []).length > 0 || (t.meta?.retryCount ?? 0) > 0)) {
        flaky.push({ name: t.fullName, message: headOf((t.failureMessages ?? [])[0]) });
      }
    }
  }
  return { passed, failed, failures, flaky };
}

/**
 * The head of a failure message, one line for a CI log: its non-empty lines up to the stack trace
 * (at most 6, joined with ' | ', 800 characters), so an error whose cause is on its second line
 * (`meshctl ... exited 1:` then the command's stderr) still says why.
 */
function headOf(text) {
  const lines = [];
  for (const raw of String(text ?? '').split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (/^(at\s|❯)/.test(line)) break;
    lines.push(line);
    if (lines.length === 6) break;
  }
  return lines.join(' | ').slice(0, 800);
}
