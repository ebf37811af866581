/**
 * External commands for the bench: one-shot commands (captured), long-lived processes the bench
 * starts (tracked by pid, so only those are ever killed), and commands inside a namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface ShOptions {
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Don't throw on a non-zero exit. */
  allowFail?: boolean;
  cwd?: string;
}

/** argv run inside a network namespace file (nsenter execs it: no extra process). */
export function inNs(netns: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${netns}`, '--', ...argv];
}

/** Runs argv to completion; throws with its stderr unless it exits 0 (or allowFail). */
export async function sh(argv: readonly string[], opts: ShOptions = {}): Promise<ShResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error('sh: empty argv');
  const t0 = performance.now();
  const res = await execa(file, args, {
    input: opts.input,
    reject: false,
    timeout: opts.timeoutMs ?? 120_000,
    env: opts.env,
    cwd: opts.cwd,
    stripFinalNewline: false,
  });
  const out = { code: res.exitCode ?? -1, stdout: String(res.stdout ?? ''), stderr: String(res.stderr ?? ''), ms: performance.now() - t0 };
  if (out.code !== 0 && !opts.allowFail) {
    throw new Error(`${argv.join(' ')} exited ${out.code}${res.timedOut ? ' (timed out)' : ''}: ${(out.stderr || String(res.message ?? '')).trim().slice(0, 2000)}`);
  }
  return out;
}

/** A long-lived process the bench started; stop() kills exactly its pid. */
export class Daemon {
  readonly exited: Promise<number | null>;
  private output = '';
  private exitCode: number | null | undefined;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((res) => child.on('exit', (code) => res(code)));
    void this.exited.then((c) => (this.exitCode = c));
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  /** Starts argv; resolves once the process exists (rejects if it cannot start). */
  static async start(name: string, argv: readonly string[], opts: { env?: Record<string, string>; cwd?: string; stdin?: boolean } = {}): Promise<Daemon> {
    const [file, ...args] = argv;
    if (!file) throw new Error('Daemon.start: empty argv');
    const child = spawn(file, args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    await new Promise<void>((res, rej) => {
      child.once('spawn', () => res());
      child.once('error', rej);
    });
    return new Daemon(name, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last 20 kB of its stdout and stderr. */
  get log(): string {
    return this.output;
  }

  /** Resolves when `pattern` appears in its output; rejects if it exits first or time runs out. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (!this.running) throw new Error(`${this.name} exited (${this.exitCode}) before ${pattern}: ${this.output.slice(-1000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${pattern} after ${timeoutMs} ms: ${this.output.slice(-1000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 3_000): Promise<void> {
    if (!this.running) return;
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        if (this.running) process.kill(this.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Undo actions, run last-in first-out by `runAll` (in a finally, and on SIGINT/SIGTERM). */
export class Cleanup {
  /** Every cleanup not yet run, for the SIGINT/SIGTERM handler in main.ts. */
  static readonly live = new Set<Cleanup>();
  private readonly actions: { what: string; fn: () => Promise<void> }[] = [];

  constructor() {
    Cleanup.live.add(this);
  }

  add(what: string, fn: () => Promise<void>): void {
    this.actions.push({ what, fn });
  }

  /** Registers a daemon's stop. */
  daemon(d: Daemon): Daemon {
    this.add(`stop ${d.name} (pid ${d.pid})`, () => d.stop());
    return d;
  }

  private running: Promise<void> | undefined;

  /** Runs every action once; a second caller (the signal handler) waits for the same run. */
  runAll(log: (line: string) => void = console.error): Promise<void> {
    this.running ??= this.drain(log);
    return this.running;
  }

  private async drain(log: (line: string) => void): Promise<void> {
    while (this.actions.length) {
      const a = this.actions.pop()!;
      try {
        await a.fn();
      } catch (err) {
        log(`bench cleanup: ${a.what} failed: ${(err as Error).message}`);
      }
    }
    Cleanup.live.delete(this);
  }
}
