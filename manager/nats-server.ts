import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import type { Logger } from '../core/log.js';
import { MeshError } from '../core/errors.js';
import { ADMIN_USER, JOIN_USER, MANAGER_USER, ROUTE_USER } from '../core/auth/secrets.js';
import { newSecret } from '../core/auth/tokens.js';
import { joinPermissions, workerPermissions } from '../core/auth/permissions.js';
import { NATS_MAX_PAYLOAD } from '../core/wire/limits.js';

export interface EmbeddedNatsOptions {
  serverName: string;
  /** Address the client and cluster listeners bind to (the node's advertise address). */
  host: string;
  clientPort: number;
  clusterPort: number;
  /** Other managers' addresses; with any, this server joins them as one NATS cluster. */
  peers: readonly string[];
  stateDir: string;
  /** Users, permissions and route credentials; without it the server is open (unit tests). */
  auth?: NatsAuth;
  /** Server certificate, key and CA (PEM files): TLS on the client and route ports. */
  tls?: { certFile: string; keyFile: string; caFile: string };
  log: Logger;
}

/** A joined worker's NATS user (from the managers' mesh_auth bucket). */
export interface NodeUser {
  nodeId: string;
  user: string;
  /** bcrypt hash: the password itself never leaves the node. */
  passwordHash: string;
}

export interface NatsAuth {
  managerPassword: string;
  adminPassword: string;
  routePassword: string;
  nodeUsers: NodeUser[];
}

/** The `authorization` block: managers and meshctl unrestricted, workers scoped, anonymous may only join. */
export function renderAuthorization(auth: NatsAuth): object {
  return {
    users: [
      { user: MANAGER_USER, password: auth.managerPassword },
      { user: ADMIN_USER, password: auth.adminPassword },
      // No one knows this password: it is the identity of connections without credentials.
      { user: JOIN_USER, password: newSecret(), permissions: joinPermissions() },
      ...[...auth.nodeUsers]
        .sort((a, b) => a.user.localeCompare(b.user))
        .map((u) => ({ user: u.user, password: u.passwordHash, permissions: workerPermissions(u.nodeId) })),
    ],
  };
}

/** Renders nats-server's config file: JetStream on, store under the state dir, routes to peers. */
export function renderNatsConfig(opts: Omit<EmbeddedNatsOptions, 'log'>): string {
  const tls = opts.tls ? `tls: ${JSON.stringify({ cert_file: opts.tls.certFile, key_file: opts.tls.keyFile, ca_file: opts.tls.caFile, timeout: 5 })}` : undefined;
  const lines = [
    `server_name: ${JSON.stringify(opts.serverName)}`,
    `listen: ${JSON.stringify(`${opts.host}:${opts.clientPort}`)}`,
    // The biggest legitimate message (a deploy of a stack file at the parser's limit); see core/wire/limits.ts.
    `max_payload: ${NATS_MAX_PAYLOAD}`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(join(opts.stateDir, 'nats'))}`,
    `}`,
  ];
  if (tls) lines.push(tls);
  if (opts.auth) lines.push(`authorization: ${JSON.stringify(renderAuthorization(opts.auth))}`, `no_auth_user: ${JSON.stringify(JOIN_USER)}`);
  if (opts.peers.length > 0) {
    const cred = opts.auth ? `${ROUTE_USER}:${encodeURIComponent(opts.auth.routePassword)}@` : '';
    const routes = opts.peers.map((p) => JSON.stringify(`nats-route://${cred}${p}:${opts.clusterPort}`));
    lines.push(
      `cluster {`,
      `  name: "meshd"`,
      `  listen: ${JSON.stringify(`${opts.host}:${opts.clusterPort}`)}`,
      ...(opts.auth ? [`  authorization: ${JSON.stringify({ user: ROUTE_USER, password: opts.auth.routePassword })}`] : []),
      ...(tls ? [`  ${tls}`] : []),
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

  constructor(private opts: EmbeddedNatsOptions) {}

  /** Rewrites the config with these worker users and has nats-server reload it (no restart). */
  async setNodeUsers(nodeUsers: NodeUser[]): Promise<void> {
    if (!this.opts.auth) return;
    this.opts = { ...this.opts, auth: { ...this.opts.auth, nodeUsers } };
    await writeFile(this.confPath, renderNatsConfig(this.opts), { mode: 0o600 });
    this.child?.kill('SIGHUP');
  }

  private get confPath(): string {
    return join(this.opts.stateDir, 'nats-server.conf');
  }

  get url(): string {
    return `nats://${this.opts.host}:${this.opts.clientPort}`;
  }

  async start(): Promise<void> {
    const dir = join(this.opts.stateDir, 'nats');
    await mkdir(dir, { recursive: true });
    const conf = this.confPath;
    await writeFile(conf, renderNatsConfig(this.opts), { mode: 0o600 });
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
