// Prints vitest JSON reports as the one line CI reads: `N passed, N failed` (summed over every
// report given; a report that is missing or unreadable counts as one failure). The failed tests
// are named just above it, so the tail of a CI log says what broke; so are the tests that passed
// only on a retry (FLAKY: a flake is a cause to find, not a pass).
import { readVitestReport } from './vitest-report.mjs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['.test-results.json'];
let passed = 0;
let failed = 0;
const lines = [];
for (const file of files) {
  try {
    const report = readVitestReport(file);
    passed += report.passed;
    failed += report.failed;
    for (const f of report.failures) lines.push(`FAILED (${file}): ${f.name}${f.message ? ` -- ${f.message}` : ''}`);
    for (const f of report.flaky) lines.push(`FLAKY (${file}): ${f.name} -- passed only on a retry${f.message ? `; first attempt: ${f.message}` : ''}`);
  } catch (err) {
    lines.push(`FAILED: cannot read ${file}: ${err.message}`);
    failed++;
  }
}
for (const line of lines) console.log(line);
console.log(`${passed} passed, ${failed} failed`);
