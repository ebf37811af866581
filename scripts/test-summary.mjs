// Prints vitest JSON reports as the one line CI reads: `N passed, N failed` (summed over every
// report given; a report that is missing or unreadable counts as one failure).
import { readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['.test-results.json'];
let passed = 0;
let failed = 0;
for (const file of files) {
  try {
    const report = JSON.parse(readFileSync(file, 'utf8'));
    passed += report.numPassedTests ?? 0;
    failed += (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
    for (const suite of report.testResults ?? []) {
      if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) failed++;
    }
  } catch (err) {
    console.error(`test-summary: cannot read ${file}: ${err.message}`);
    failed++;
  }
}
console.log(`${passed} passed, ${failed} failed`);
