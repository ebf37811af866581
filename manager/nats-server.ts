import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import type { Logger } from '../core/log.js';
import { MeshError } from '../core/errors.js';

export interface EmbeddedNatsOptions {
  serverName: string;
  /** Address the client and cluster listeners bind to (the node's advertise address). */
  host: string;
  clientPort: number;
  clusterPort: number;
  /** Other managers' addresses; with any, this server joins them as one NATS cluster. */
  peers: readonly string[];
  stateDir: string;
  log: Logger;
}

/** Renders nats-server's config file: JetStream on, store under the state dir, routes to peers. */
export function renderNatsConfig(opts: Omit<EmbeddedNatsOptions, 'log'>): string {
  const lines = [
    `server_name: ${JSON.stringify(opts.serverName)}`,
    `listen: ${JSON.stringify(`${opts.host}:${opts.clientPort}`)}`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(join(opts.stateDir, 'nats'))}`,
    `}`,
  ];
  if (opts.peers.length > 0) {
    const routes = opts.peers.map((p) => JSON.stringify(`nats-route://${p}:${opts.clusterPort}`));
    lines.push(
      `cluster {`,
      `  name: "meshd"`,
      `  listen: ${JSON.stringify(`${opts.host}:${opts.clusterPort}`)}`,
      `  routes: [${routes.join(', ')}]`,
      `}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Debian's nats-server as a child of meshd; it dies with meshd (parent-death signal). */
export class EmbeddedNats {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: EmbeddedNatsOptions) {}

  get url(): string {
    return `nats://${this.opts.host}:${this.opts.clientPort}`;
  }

  async start(): Promise<void> {
    const dir = join(this.opts.stateDir, 'nats');
    await mkdir(dir, { recursive: true });
    const conf = join(this.opts.stateDir, 'nats-server.conf');
    await writeFile(conf, renderNatsConfig(this.opts));
    const logFile = await open(join(this.opts.stateDir, 'nats-server.log'), 'a');
    const child = spawn('setpriv', ['--pdeathsig', 'SIGTERM', '--', 'nats-server', '-c', conf], {
      stdio: ['ignore', logFile.fd, logFile.fd],
    });
    await logFile.close();
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.opts.log.warn('nats-server exited', { code, signal });
    });
    await this.waitListening(15_000);
    this.opts.log.info('nats-server started', { url: this.url, peers: this.opts.peers.join(',') });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }

  private async waitListening(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child?.exitCode !== null) throw new MeshError(`nats-server exited during start; see ${this.opts.stateDir}/nats-server.log`);
      if (await canConnect(this.opts.host, this.opts.clientPort)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new MeshError(`nats-server did not listen on ${this.url} within ${timeoutMs} ms`);
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
