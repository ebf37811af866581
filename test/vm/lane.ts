/**
 * `npm run test:vm`: the IPVS lane. Boots Debian's stock kernel under qemu (test/vm/vm.ts) and
 * runs the load-balancing and ingress end-to-end tests there with `--lb-backend ipvs`, plus
 * test/vm/*.test.ts, which read the kernel's IPVS state. Prints `N passed, N failed` from the
 * guest's vitest report and exits non-zero unless the guest ran and every test passed.
 *
 *   npm run test:vm [-- FILE...]   only these test files (paths as vitest takes them)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKOUT, runInVm } from './vm.js';

/** TCG emulates the CPU: time bounds the tests assert are multiplied by this in the guest. */
const SLOWDOWN = 5;
const TIMEOUT_MS = 60 * 60_000;

const files = process.argv.slice(2).map((f) => `'${f.replace(/'/g, '')}'`).join(' ');
const results = join(CHECKOUT, '.vm', 'results.json');
rmSync(results, { force: true });
// Build the bundles here (seconds) rather than under the emulated CPU.
execFileSync(process.execPath, [join(CHECKOUT, 'scripts', 'build.mjs')], { stdio: 'inherit' });

const script = `set -u
export CI=true NO_COLOR=1 MESHD_TEST_LB_BACKEND=ipvs MESHD_TEST_SLOWDOWN=${SLOWDOWN} MESHD_TEST_PREBUILT=1
exec node node_modules/vitest/vitest.mjs run --config test/vm/vitest.config.ts ${files}
`;
const status = await runInVm({ script, timeoutMs: TIMEOUT_MS, onLine: (l) => console.log(`vm| ${l}`) });

let passed = 0;
let failed = 0;
try {
  const report = JSON.parse(readFileSync(results, 'utf8')) as { numPassedTests?: number; numFailedTests?: number; numRuntimeErrorTestSuites?: number; testResults?: { status: string; assertionResults?: unknown[] }[] };
  passed = report.numPassedTests ?? 0;
  failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
  for (const suite of report.testResults ?? []) if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) failed++;
} catch {
  console.error(`test:vm: the guest left no report (${results}); console: .vm/console.log`);
}
if (status === undefined) console.error('test:vm: the VM powered off without an exit status (see .vm/console.log)');
const ok = status === 0 && failed === 0 && passed > 0;
if (!ok && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
