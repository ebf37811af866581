/**
 * `npm run test:vm:mutants`: proves the IPVS lane can fail. Each mutant breaks the IPVS planner
 * (lb/ipvs.ts) in one way at bundle time (an esbuild plugin rewrites the source as it loads; the
 * checkout is not touched), runs test/vm/ipvs.test.ts in the VM, and must make the named test
 * fail. Exits non-zero when a mutant survives; rebuilds the real bundles at the end. Writes
 * `.vm/mutants.json` (a killed mutant counts as a passed test) for scripts/test-summary.mjs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runLane } from './lane.js';
import { CHECKOUT } from './vm.js';
// @ts-expect-error: a plain ESM script without type declarations
import { buildBundles } from '../../scripts/build.mjs';

interface Mutant {
  name: string;
  /** File (relative to the checkout) and the exact text replaced in it (every occurrence). */
  file: string;
  from: string;
  to: string;
  /** Substring of the full name of a test that must fail. */
  mustFail: string;
}

const SUITE = 'IPVS load balancing on a real kernel (3-node dev cluster)';
const MUTANTS: Mutant[] = [
  {
    name: 'direct routing instead of masquerading',
    file: 'lb/ipvs.ts',
    // Both the add and the edit line, or the next sync would edit it back to masquerading.
    from: '-r ${key} -m -w ${b.weight}`',
    to: '-r ${key} -g -w ${b.weight}`',
    mustFail: `${SUITE} programs one fwmark service per VIP`,
  },
  {
    name: 'a backend that leaves is deleted without draining at weight 0',
    file: 'lb/ipvs.ts',
    from: 'if (r.weight > 0) lines.push(`-e ${svc}',
    to: 'if (false) lines.push(`-e ${svc}',
    mustFail: `${SUITE} drains a dead replica's backend to weight 0`,
  },
];

/** An esbuild plugin that replaces `from` with `to` in one file, failing when `from` is not there. */
function mutate(m: Mutant) {
  const path = join(CHECKOUT, m.file);
  return {
    name: 'meshd-mutant',
    setup(b: { onLoad: (o: { filter: RegExp }, cb: (a: { path: string }) => Promise<{ contents: string; loader: 'ts' } | undefined>) => void }) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        if (args.path !== path) return undefined;
        const text = await readFile(path, 'utf8');
        if (!text.includes(m.from)) throw new Error(`mutant "${m.name}": ${m.file} no longer contains ${m.from}; update test/vm/mutants.ts`);
        return { contents: text.split(m.from).join(m.to), loader: 'ts' };
      });
    },
  };
}

let killed = 0;
const results: { fullName: string; status: 'passed' | 'failed' }[] = [];
try {
  for (const m of MUTANTS) {
    console.log(`mutant: ${m.name} (${m.file})`);
    const r = await runLane(['test/vm/ipvs.test.ts'], { plugins: [mutate(m)], report: 'mutant-run.json' });
    const caught = r.failedTests.some((t) => t.includes(m.mustFail));
    console.log(`mutant: ${m.name}: ${caught ? 'killed' : 'SURVIVED'} (${r.passed} passed, ${r.failed} failed: ${r.failedTests.join('; ') || 'none'})`);
    if (caught) killed++;
    results.push({ fullName: `IPVS lane mutant: ${m.name}`, status: caught ? 'passed' : 'failed' });
  }
} finally {
  await buildBundles();
}
const survived = MUTANTS.length - killed;
await writeFile(
  join(CHECKOUT, '.vm', 'mutants.json'),
  JSON.stringify({ numPassedTests: killed, numFailedTests: survived, testResults: [{ status: survived ? 'failed' : 'passed', assertionResults: results }] }, null, 2),
);
console.log(`${killed} passed, ${survived} failed`);
process.exit(survived === 0 ? 0 : 1);
