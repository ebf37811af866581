/**
 * One mutant of the lane's mutation check (test/vm/mutants.ts): a text replacement in one source
 * file, applied as vitest loads that file inside the VM (the checkout is never touched). The host
 * hands it to the guest in MESHD_TEST_MUTANT (base64 JSON); test/vm/vitest.config.ts reads it.
 */
import { join } from 'node:path';

export interface Mutant {
  name: string;
  /** File (relative to the checkout) and the exact text replaced in it (every occurrence). */
  file: string;
  from: string;
  to: string;
  /** Substring of the full name of a test that must fail. */
  mustFail: string;
}

export const MUTANT_ENV = 'MESHD_TEST_MUTANT';

export function encodeMutant(m: Mutant): string {
  return Buffer.from(JSON.stringify(m)).toString('base64');
}

/** A Vite plugin applying the mutant named in `encoded` (none: undefined). */
export function mutantPlugin(checkout: string, encoded: string | undefined) {
  if (!encoded) return undefined;
  const m = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as Mutant;
  const path = join(checkout, m.file);
  return {
    name: 'meshd-mutant',
    enforce: 'pre' as const,
    transform(code: string, id: string) {
      if (id.split('?')[0] !== path) return undefined;
      if (!code.includes(m.from)) throw new Error(`mutant "${m.name}": ${m.file} no longer contains ${m.from}`);
      return { code: code.split(m.from).join(m.to), map: null };
    },
  };
}
