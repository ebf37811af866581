import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Vitest global setup: rebuild dist/ so every meshd and meshctl a test starts runs this code. */
export default function setup(): void {
  // The VM lane built them on the host before booting (esbuild under an emulated CPU is slow).
  if (process.env.MESHD_TEST_PREBUILT === '1') return;
  execFileSync(process.execPath, [join(import.meta.dirname, '..', '..', 'scripts', 'build.mjs')], { stdio: 'inherit' });
}
