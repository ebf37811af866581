/**
 * `npm run test:vm:mutants`: proves the IPVS lane can fail. Each mutant breaks the IPVS planner
 * (lb/ipvs.ts) in one way as vitest loads it in the VM (test/vm/mutant.ts; the checkout is not
 * touched), runs the lane's applier test (test/vm/ipvs-applier.test.ts: the real applier against
 * the kernel's IPVS, seconds rather than the cluster suite's quarter hour) and must make the named
 * test fail. Exits non-zero when a mutant survives. Writes `.vm/mutants.json` (a killed mutant
 * counts as a passed test) for scripts/test-summary.mjs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runLane } from './lane.js';
import { MUTANT_ENV, encodeMutant, type Mutant } from './mutant.js';
import { CHECKOUT } from './vm.js';

const FILE = 'test/vm/ipvs-applier.test.ts';
const SUITE = 'the IPVS applier on a real kernel (one namespace, no cluster)';
const MUTANTS: Mutant[] = [
  {
    name: 'direct routing instead of masquerading',
    file: 'lb/ipvs.ts',
    // Both the add and the edit line, or the next sync would edit it back to masquerading.
    from: '-r ${key} -m -w ${b.weight}`',
    to: '-r ${key} -g -w ${b.weight}`',
    mustFail: `${SUITE} programs one fwmark service`,
  },
  {
    name: 'a backend that leaves is deleted without draining at weight 0',
    file: 'lb/ipvs.ts',
    from: 'if (r.weight > 0) lines.push(`-e ${svc}',
    to: 'if (false) lines.push(`-e ${svc}',
    mustFail: `${SUITE} drains a leaving replica at weight 0`,
  },
];

let killed = 0;
const results: { fullName: string; status: 'passed' | 'failed' }[] = [];
for (const m of MUTANTS) {
  // Checked here: a mutant that no longer applies would fail the run for the wrong reason.
  if (!(await readFile(join(CHECKOUT, m.file), 'utf8')).includes(m.from)) throw new Error(`mutant "${m.name}": ${m.file} no longer contains ${m.from}; update test/vm/mutants.ts`);
  console.log(`mutant: ${m.name} (${m.file})`);
  const r = await runLane([FILE], { env: { [MUTANT_ENV]: encodeMutant(m) }, report: 'mutant-run.json' });
  const caught = r.failedTests.some((t) => t.includes(m.mustFail));
  console.log(`mutant: ${m.name}: ${caught ? 'killed' : 'SURVIVED'} (${r.passed} passed, ${r.failed} failed: ${r.failedTests.join('; ') || 'none'})`);
  if (caught) killed++;
  results.push({ fullName: `IPVS lane mutant: ${m.name}`, status: caught ? 'passed' : 'failed' });
}
const survived = MUTANTS.length - killed;
await writeFile(
  join(CHECKOUT, '.vm', 'mutants.json'),
  JSON.stringify({ numPassedTests: killed, numFailedTests: survived, testResults: [{ status: survived ? 'failed' : 'passed', assertionResults: results }] }, null, 2),
);
console.log(`${killed} passed, ${survived} failed`);
process.exit(survived === 0 ? 0 : 1);
