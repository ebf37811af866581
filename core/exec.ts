import { execa } from 'execa';
import { CommandError } from './errors.js';

export interface RunOptions {
  /** Bind-mounted network namespace file to run the command in (via nsenter). */
  netns?: string;
  /** Text fed to the command's standard input (for batch files: ip -batch -, nft -f -). */
  input?: string;
  /** Exit codes other than 0 that count as success. */
  okExitCodes?: readonly number[];
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Wraps argv so it runs inside the namespace file, when one is given. */
export function inNetns(netns: string | undefined, argv: readonly string[]): string[] {
  return netns ? ['nsenter', `--net=${netns}`, '--', ...argv] : [...argv];
}

/** Runs one external command; throws CommandError naming argv, namespace, exit code and stderr. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = inNetns(opts.netns, argv);
  const [file, ...args] = full;
  if (!file) throw new Error('run: empty argv');
  const result = await execa(file, args, {
    input: opts.input,
    reject: false,
    timeout: opts.timeoutMs ?? 30_000,
    cancelSignal: opts.signal,
    stripFinalNewline: true,
  });
  const exitCode = result.exitCode;
  const ok = exitCode === 0 || (exitCode !== undefined && (opts.okExitCodes ?? []).includes(exitCode));
  if (!ok || result.failed && exitCode === undefined) {
    throw new CommandError({
      argv,
      netns: opts.netns,
      exitCode,
      stderr: String(result.stderr || result.message || ''),
      cause: result.cause,
    });
  }
  return { stdout: String(result.stdout), stderr: String(result.stderr), exitCode: exitCode ?? 0 };
}
