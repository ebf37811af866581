// Prints vitest's JSON report as the one line CI reads: `N passed, N failed`.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.test-results.json';
let passed = 0;
let failed = 0;
try {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed = report.numPassedTests ?? 0;
  failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
  for (const suite of report.testResults ?? []) {
    if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) failed++;
  }
} catch (err) {
  console.error(`test-summary: cannot read ${file}: ${err.message}`);
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed`);
