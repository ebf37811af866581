/**
 * `npm run bench` arguments, and where the report goes. A full run writes BENCHMARKS.md at the
 * repository root; a `--quick` run writes BENCHMARKS.quick.md beside it, and is refused any path
 * that would put its numbers into the full run's report (`--out` or `--into` naming it).
 */
import { join, resolve } from 'node:path';

export const FULL_REPORT = 'BENCHMARKS.md';
export const QUICK_REPORT = 'BENCHMARKS.quick.md';

export interface BenchArgs {
  quick: boolean;
  only: Set<string>;
  /** The report a run writes whole (ignored with `into`). */
  out: string;
  /** An existing report the measured sections are written into. */
  into?: string;
}

/** Parses argv (without node and the script); `repo` is the repository root, `rows` every row id. */
export function parseBenchArgs(argv: readonly string[], opts: { repo: string; rows: readonly string[] }): BenchArgs {
  let quick = false;
  let only = new Set<string>(opts.rows);
  let out: string | undefined;
  let into: string | undefined;
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a.startsWith('--only=')) only = new Set(a.slice(7).split(',').filter(Boolean));
    else if (a.startsWith('--out=')) out = resolve(a.slice(6));
    else if (a.startsWith('--into=')) into = resolve(a.slice(7));
    else throw new Error(`bench: unknown argument ${a} (use --quick, --only=${opts.rows.join(',')}, --out=FILE, --into=FILE)`);
  }
  for (const r of only) if (!opts.rows.includes(r)) throw new Error(`bench: unknown row ${r} (rows: ${opts.rows.join(', ')})`);
  const full = join(opts.repo, FULL_REPORT);
  if (quick) {
    for (const [flag, path] of [['--out', out], ['--into', into]] as const) {
      if (path === full) throw new Error(`bench: a --quick run never writes ${FULL_REPORT} (${flag}); it writes ${QUICK_REPORT} beside it, or --out=FILE`);
    }
  }
  return { quick, only, out: out ?? join(opts.repo, quick ? QUICK_REPORT : FULL_REPORT), ...(into !== undefined && { into }) };
}
