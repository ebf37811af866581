import { execa } from 'execa';
import { mkdtemp, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '..', '..');
const MESHCTL = join(REPO, 'bin', 'meshctl.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The load-balancer backend end-to-end tests run with: `MESHD_TEST_LB_BACKEND` (the VM lane sets
 * `ipvs`), else nftables (this machine's kernel has no IPVS).
 */
export function testLbBackend(): 'ipvs' | 'nftables' {
  const b = process.env.MESHD_TEST_LB_BACKEND ?? 'nftables';
  if (b !== 'ipvs' && b !== 'nftables') throw new Error(`MESHD_TEST_LB_BACKEND must be ipvs or nftables, not ${b}`);
  return b;
}

/**
 * A time bound scaled for a slow machine: `MESHD_TEST_SLOWDOWN` (the VM lane, whose CPU is
 * emulated, sets it) multiplies the bounds the tests hold the mesh to. 1 on real hardware.
 */
export function slowdown(ms: number): number {
  const f = Number(process.env.MESHD_TEST_SLOWDOWN ?? '1');
  if (!Number.isFinite(f) || f < 1) throw new Error(`MESHD_TEST_SLOWDOWN must be a number >= 1, not ${process.env.MESHD_TEST_SLOWDOWN}`);
  return Math.round(ms * f);
}

/**
 * A `meshctl dev` cluster for a test file: its own MESHD_DEV_HOME and name, driven through the
 * real CLI. `down()` removes everything and is safe to call twice (use it in afterAll).
 */
export class DevCluster {
  private constructor(
    readonly name: string,
    readonly home: string,
  ) {}

  static async up(opts: { nodes: number; managers?: number; meshdArgs?: string[] }): Promise<DevCluster> {
    const home = await mkdtemp(join(tmpdir(), 'meshd-e2e-'));
    const name = `e2e${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
    const c = new DevCluster(name, home);
    const args = ['dev', 'up', '--nodes', String(opts.nodes), '--managers', String(opts.managers ?? 1), '--name', name, '--ready-timeout', String(slowdown(90_000) / 1000)];
    const meshdArgs = [...(opts.meshdArgs ?? [])];
    if (!meshdArgs.includes('--lb-backend')) meshdArgs.push('--lb-backend', testLbBackend());
    // Under an emulated CPU a busy node can miss 2 s of heartbeats: give liveness the same slack.
    if (slowdown(1) > 1 && !meshdArgs.includes('--node-down-after')) meshdArgs.push('--node-down-after', String(slowdown(2_000) / 1000));
    // ... and fewer idle resyncs: each starts ~25 tool processes per node, costly when emulated.
    if (slowdown(1) > 1 && !meshdArgs.includes('--resync-every')) meshdArgs.push('--resync-every', String(slowdown(5_000) / 1000));
    args.push('--', ...meshdArgs);
    const res = await c.meshctl(args, { timeoutMs: 240_000 });
    if (res.code !== 0) {
      const logs = await c.logTails(40);
      await c.down();
      throw new Error(`dev up failed (${res.code}): ${res.stderr}\n${res.stdout}\n${logs}`);
    }
    return c;
  }

  get dir(): string {
    return join(this.home, this.name);
  }

  nodeDir(hostname: string): string {
    return join(this.dir, 'nodes', hostname);
  }

  async meshctl(args: string[], opts: { timeoutMs?: number; input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
    // `stack deploy` waits up to 120 s for convergence: as long as the machine is slow.
    if (slowdown(1) > 1 && args[0] === 'stack' && args[1] === 'deploy' && !args.includes('--timeout')) args = [...args.slice(0, 2), '--timeout', String(slowdown(120_000) / 1000), ...args.slice(2)];
    const res = await execa(process.execPath, [MESHCTL, ...args], {
      reject: false,
      timeout: slowdown(opts.timeoutMs ?? 60_000),
      input: opts.input,
      env: { ...opts.env, MESHD_DEV_HOME: this.home, MESHD_DEV_CLUSTER: this.name },
    });
    // No exit code: it was killed (time limit, signal) or never started; say which.
    const why = res.exitCode === undefined ? `${res.message}\n` : '';
    return { code: res.exitCode ?? -1, stdout: String(res.stdout), stderr: why + String(res.stderr) };
  }

  /** Runs meshctl and fails with its output unless it exits 0. */
  async ok(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<string> {
    const res = await this.meshctl(args, opts);
    if (res.code !== 0) throw new Error(`meshctl ${args.join(' ')} exited ${res.code}:\n${res.stderr}\n${res.stdout}`);
    return res.stdout;
  }

  /** A `--format json` list as objects. */
  async list<T = Record<string, unknown>>(args: string[]): Promise<T[]> {
    const out = await this.ok([...args, '--format', 'json']);
    return out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
  }

  async meshdLog(hostname: string): Promise<string> {
    return readFile(join(this.nodeDir(hostname), 'meshd.log'), 'utf8');
  }

  /** Lines of these nodes' meshd.log stamped at or after `sinceMs` that match `pattern`, each prefixed by its node. */
  async logSince(hostnames: string[], sinceMs: number, pattern: RegExp): Promise<string[]> {
    const out: string[] = [];
    for (const n of hostnames) {
      const log = await this.meshdLog(n).catch(() => '');
      for (const line of log.split('\n')) {
        const at = Date.parse(line.slice(0, line.indexOf(' ')));
        if (at >= sinceMs && pattern.test(line)) out.push(`${n} ${line}`);
      }
    }
    return out.sort((a, b) => a.slice(a.indexOf(' ') + 1).localeCompare(b.slice(b.indexOf(' ') + 1)));
  }

  /** The last `lines` lines of every node's meshd.log (for failure messages: down() removes them). */
  async logTails(lines: number): Promise<string> {
    const nodes = await readdir(join(this.dir, 'nodes')).catch(() => [] as string[]);
    const parts: string[] = [];
    for (const n of nodes.sort()) {
      const log = await this.meshdLog(n).catch(() => '(no meshd.log)');
      parts.push(`--- ${n} meshd.log (last ${lines} lines) ---\n${log.trimEnd().split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }

  /** The pid a node's worker recorded for a task (by task id prefix). */
  async taskPid(hostname: string, taskIdPrefix: string): Promise<number> {
    const tasksDir = join(this.nodeDir(hostname), 'run', 'tasks');
    const id = (await readdir(tasksDir)).find((d) => d.startsWith(taskIdPrefix));
    if (!id) throw new Error(`no task ${taskIdPrefix} under ${tasksDir}`);
    return (JSON.parse(await readFile(join(tasksDir, id, 'state.json'), 'utf8')) as { pid: number }).pid;
  }

  /** Removes the cluster, then its MESHD_DEV_HOME (only if down emptied it). */
  async down(): Promise<void> {
    await this.meshctl(['dev', 'down', '--name', this.name], { timeoutMs: 120_000 });
    await rm(join(this.home, 'current'), { force: true });
    await rmdir(this.home).catch(() => undefined);
  }
}

/** Polls `check` until it returns a value (not undefined) or the time is up. */
/** Polls `check` until it returns a value; the default time limit is scaled for slow machines (`slowdown`). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = slowdown(30_000), everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface TaskRow {
  ID: string;
  Name: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
  Error: string;
  Restarts: number;
  Health: string;
  Addresses: { Network: string; NetworkID: string; Addr: string }[];
}

export interface ServiceRow {
  ID: string;
  Name: string;
  Mode: string;
  Replicas: string;
  Ports: string;
}
