import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { DevCluster } from './dev.js';

const CLIENT = resolve(import.meta.dirname, 'hostile-client.mjs');

export interface ClientResult {
  published?: number;
  reply?: string;
  error?: string;
  seen?: { subject: string; reply?: string; data: string }[];
  targets?: number;
  sent?: number;
  said?: string;
  records?: Record<string, { revision: number; value: string }>;
  messages?: number;
  count?: number;
  asyncErrors: string[];
  closed: boolean;
}

/**
 * hostile-client.mjs as a long-lived child inside the cluster's underlay namespace: one NATS
 * connection (a worker's credentials, or none), driven by one JSON command per line.
 */
export class HostileClient {
  private next = 1;
  private readonly waiting = new Map<number, (r: ClientResult) => void>();
  private stderr = '';
  maxPayload = 0;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}

  static async start(underlay: string, servers: string[], opts: { creds?: { user: string; password: string }; inboxPrefix: string }): Promise<HostileClient> {
    const { creds, inboxPrefix } = opts;
    const arg = JSON.stringify({ servers, inboxPrefix, ...(creds ? { user: creds.user, pass: creds.password } : {}) });
    const child = spawn('nsenter', [`--net=${underlay}`, process.execPath, CLIENT, arg], { stdio: ['pipe', 'pipe', 'pipe'] });
    const client = new HostileClient(child);
    child.stderr.on('data', (d: Buffer) => (client.stderr += d.toString()));
    const lines = createInterface({ input: child.stdout });
    const first = new Promise<Record<string, unknown>>((res, rej) => {
      child.once('exit', (code) => rej(new Error(`hostile client exited ${code}: ${client.stderr}`)));
      lines.once('line', (l) => res(JSON.parse(l) as Record<string, unknown>));
    });
    const hello = await first;
    if (!hello.ready) {
      await client.close();
      throw new Error(`hostile client could not connect: ${String(hello.connect)}`);
    }
    client.maxPayload = Number(hello.maxPayload);
    lines.on('line', (l) => {
      const r = JSON.parse(l) as ClientResult & { id: number };
      client.waiting.get(r.id)?.(r);
      client.waiting.delete(r.id);
    });
    return client;
  }

  /** Runs one command (see hostile-client.mjs) and returns what the client saw. */
  run(cmd: Record<string, unknown>, timeoutMs = 120_000): Promise<ClientResult> {
    const id = this.next++;
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`hostile client: ${String(cmd.op)} ${String(cmd.subject ?? '')} got no answer in ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        res(r);
      });
      this.child.stdin.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }

  /** Ends the client (stdin closed, then SIGKILL by pid if it lingers). */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }
}

export interface ClusterProcess {
  what: string;
  pid: number;
  /** Kernel start time (field 22 of /proc/<pid>/stat): the same pid is the same process. */
  start: string;
}

async function statOf(pid: number): Promise<string[] | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // comm may hold spaces: fields after the closing parenthesis
  const close = text.lastIndexOf(')');
  return [text.slice(text.indexOf('(') + 1, close), ...text.slice(close + 2).split(' ')];
}

/** Every node's meshd (pid file) and the nats-server it runs (its child), with start times. */
export async function clusterProcesses(c: DevCluster): Promise<ClusterProcess[]> {
  const out: ClusterProcess[] = [];
  const meshds = new Map<number, string>();
  for (const node of (await readdir(join(c.dir, 'nodes'))).sort()) {
    const pid = Number((await readFile(join(c.nodeDir(node), 'meshd.pid'), 'utf8')).trim());
    const st = await statOf(pid);
    if (!st) throw new Error(`${node}: meshd pid ${pid} is not running`);
    out.push({ what: `${node} meshd`, pid, start: st[20]! });
    meshds.set(pid, node);
  }
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = await statOf(Number(d));
    // fields: [comm, state, ppid, ...]
    if (st && st[0] === 'nats-server' && meshds.has(Number(st[2]))) out.push({ what: `${meshds.get(Number(st[2]))} nats-server`, pid: Number(d), start: st[20]! });
  }
  return out;
}

/** The processes of `before` that no longer run (or whose pid now names another process). */
export async function gone(before: ClusterProcess[]): Promise<string[]> {
  const dead: string[] = [];
  for (const p of before) {
    const st = await statOf(p.pid);
    if (!st || st[20] !== p.start || st[1] === 'Z') dead.push(`${p.what} (pid ${p.pid})`);
  }
  return dead;
}
