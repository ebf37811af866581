/**
 * A registry inside a dev cluster: Debian's distribution registry (`docker-registry serve`),
 * plain HTTP, run in a network namespace the caller made (a dev cluster's underlay), its config
 * and storage in a temp dir. `meshctl demo` and the images e2e serve their images from it.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';

/** How long a stop waits after SIGTERM before SIGKILL. */
const STOP_TIMEOUT_MS = 10_000;

export interface DevRegistryOptions {
  /** The network namespace file to serve in (`<cluster dir>/netns/underlay`). */
  netns: string;
  /** `IP:PORT` to listen on there. */
  addr: string;
  /** With a login, htpasswd auth (one user); without, anyone may pull and push. */
  login?: { user: string; password: string };
  /** How long to wait for it to answer (default 20 s). */
  readyTimeoutMs?: number;
}

export class DevRegistry {
  private constructor(
    readonly addr: string,
    private readonly dir: string,
    private readonly proc: ResultPromise,
  ) {}

  /** The registry's process id (docker-registry itself: nsenter execs it). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Starts it and waits until `/v2/` answers (200, or 401 with a login); ended again if it does not. */
  static async start(opts: DevRegistryOptions): Promise<DevRegistry> {
    const dir = await mkdtemp(join(tmpdir(), 'meshd-registry-'));
    const config = join(dir, 'config.yml');
    const auth: string[] = [];
    if (opts.login) {
      await writeFile(join(dir, 'htpasswd'), `${opts.login.user}:${bcrypt.hashSync(opts.login.password, 8)}\n`);
      auth.push('auth:', '  htpasswd:', '    realm: meshd', `    path: ${join(dir, 'htpasswd')}`);
    }
    await writeFile(config, ['version: 0.1', 'log: { level: warn }', 'storage:', `  filesystem: { rootdirectory: ${join(dir, 'data')} }`, 'http:', `  addr: ${opts.addr}`, ...auth, ''].join('\n'));
    const proc = execa('nsenter', [`--net=${opts.netns}`, '--', 'docker-registry', 'serve', config], { reject: false, stdio: ['ignore', 'ignore', 'pipe'] });
    const registry = new DevRegistry(opts.addr, dir, proc);
    try {
      await registry.waitReady(opts.netns, opts.login ? '401' : '200', opts.readyTimeoutMs ?? 20_000);
    } catch (err) {
      await registry.stop();
      throw err;
    }
    return registry;
  }

  private async waitReady(netns: string, want: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        const stderr = String((await this.proc).stderr ?? '').trim().split('\n').at(-1) ?? '';
        throw new Error(`docker-registry exited (${this.proc.exitCode ?? this.proc.signalCode}) before answering${stderr ? `: ${stderr}` : ''}`);
      }
      const res = await execa('nsenter', [`--net=${netns}`, '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${this.addr}/v2/`], { reject: false });
      last = String(res.stdout);
      if (last === want) return;
      if (Date.now() > deadline) throw new Error(`the registry at ${this.addr} did not answer ${want} within ${timeoutMs} ms (last: ${last || 'no answer'})`);
      await sleep(100);
    }
  }

  /** Ends the registry (by pid, once: a second call finds it stopped) and removes its storage. */
  async stop(): Promise<void> {
    const pid = this.proc.pid;
    if (pid !== undefined && this.proc.exitCode === null && this.proc.signalCode === null) {
      const signal = (sig: NodeJS.Signals) => {
        try {
          process.kill(pid, sig);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      };
      signal('SIGTERM');
      const killLater = setTimeout(() => signal('SIGKILL'), STOP_TIMEOUT_MS);
      await this.proc;
      clearTimeout(killLater);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
