import { resolve, sep } from 'node:path';

/** Where `meshctl dev` keeps its clusters when MESHD_DEV_HOME is unset (cli/dev/paths.ts). */
const DEFAULT_DEV_HOME = '/var/lib/meshd/dev';

/**
 * Directories hidden from every task (an empty read-only tmpfs over each, in the task's own mount
 * namespace): meshd's state dir (cluster secrets, credentials, nats-server's config and store,
 * TLS keys), its run dir (every task's files and namespace handles), and a dev cluster's home
 * (every node's state). Only the outermost of nested paths is kept: it hides the others.
 */
export function taskMaskPaths(opts: { stateDir: string; runDir: string; env: Readonly<Record<string, string | undefined>> }): string[] {
  const devHome = opts.env.MESHD_DEV_HOME;
  const all = [opts.stateDir, opts.runDir, ...(devHome ? [devHome] : []), DEFAULT_DEV_HOME].map((p) => resolve(p));
  const unique = [...new Set(all)];
  const inside = (p: string, dir: string) => p !== dir && p.startsWith(dir === sep ? dir : dir + sep);
  return unique.filter((p) => !unique.some((d) => inside(p, d))).sort();
}
