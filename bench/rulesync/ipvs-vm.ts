/**
 * The IPVS rule-sync row: this kernel has no ip_vs, so it runs in the repository's VM lane
 * (test/vm/vm.ts: Debian's kernel under qemu TCG, this machine's root fs, the checkout shared).
 * The guest program is bundled here first (seconds) instead of loading TypeScript under the
 * emulated CPU.
 */
import { readFile, rm, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { runInVm, CHECKOUT } from '../../test/vm/vm.js';
import { qemuRunning } from '../lib/machine.js';
import type { RuleSyncResult } from './measure.js';

export interface VmSizes {
  services: number;
  backends: number;
  bigServices: number;
  reps: number;
  addReps: number;
}

/** A qemu already using this checkout's VM lane (its state dir `.vm/` is shared). */
async function vmLaneBusy(): Promise<number | undefined> {
  for (const pid of await qemuRunning()) {
    const cmd = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    })();
    if (cmd.includes(`path=${CHECKOUT}`)) return pid;
  }
  return undefined;
}

/**
 * Runs the guest and returns [ipvs, nftables] results, or a reason it could not. Waits up to
 * `waitBusyMs` for another run of the VM lane on this checkout to finish first.
 */
export async function ruleSyncInVm(sizes: VmSizes, log: (l: string) => void, waitBusyMs = 15 * 60_000): Promise<RuleSyncResult[] | string> {
  const deadline = Date.now() + waitBusyMs;
  for (let busy = await vmLaneBusy(); busy !== undefined; busy = await vmLaneBusy()) {
    if (Date.now() > deadline) return `the VM lane of this checkout stayed busy (qemu pid ${busy}, another run) for ${waitBusyMs / 60_000} min`;
    log(`ipvs: waiting for the VM lane (qemu pid ${busy} of another run uses .vm/)`);
    await new Promise((r) => setTimeout(r, 20_000));
  }
  const work = join(CHECKOUT, 'bench', `.work-${process.pid}`);
  await mkdir(work, { recursive: true });
  try {
    const bundle = join(work, 'ipvs-guest.mjs');
    await build({
      entryPoints: [join(CHECKOUT, 'bench', 'rulesync', 'ipvs-guest.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      banner: { js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);" },
      logLevel: 'warning',
    });
    const out = join(work, 'ipvs.json');
    const script = `set -u\nexec node '${bundle}' '${out}' ${sizes.services} ${sizes.backends} ${sizes.bigServices} ${sizes.reps} ${sizes.addReps}\n`;
    const status = await runInVm({ script, timeoutMs: 60 * 60_000, onLine: (l) => log(`vm| ${l}`) }, log);
    if (status !== 0) return `the VM run ended with status ${status ?? 'none (no power-off or crash; see .vm/console.log)'}`;
    return JSON.parse(await readFile(out, 'utf8')) as RuleSyncResult[];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
