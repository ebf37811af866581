/**
 * Keeps this manager's nats-server users equal to the mesh_auth bucket: every change rewrites
 * the config and reloads the server (SIGHUP; connections stay up). The last list is cached in
 * the state dir so a restarting manager admits known workers before it can read the bucket.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Buckets } from '../core/state/buckets.js';
import { KvMirror } from '../core/state/mirror.js';
import type { Logger } from '../core/log.js';
import { CoalescingRunner } from '../core/runner.js';
import { writeSecretFile } from '../core/auth/secrets.js';
import type { EmbeddedNats, NodeUser } from './nats-server.js';
import type { NodeAuthRecord } from './join.js';
import { RECORDS } from '../core/wire/records.js';
import { checkAs } from '../core/wire/decode.js';
import * as W from '../core/wire/schemas.js';
import * as z from 'zod';

const CACHE_FILE = 'nats-users.json';

export async function cachedNodeUsers(stateDir: string): Promise<NodeUser[]> {
  try {
    // Our own file, but checked like everything else: a bad cache admits nobody instead of crashing.
    const r = checkAs(z.array(W.NodeAuthRecord.pick({ nodeId: true, user: true, passwordHash: true })), JSON.parse(await readFile(join(stateDir, CACHE_FILE), 'utf8')));
    return r.ok ? r.value : [];
  } catch {
    return [];
  }
}

export class NatsUserSync {
  private mirror: KvMirror<NodeAuthRecord> | undefined;
  private runner: CoalescingRunner | undefined;
  private last = '';

  constructor(private readonly deps: { buckets: Buckets; server: EmbeddedNats; stateDir: string; log: Logger }) {}

  start(): void {
    const { buckets, log } = this.deps;
    if (!buckets.auth) throw new Error('NatsUserSync needs the mesh_auth bucket');
    this.mirror = new KvMirror<NodeAuthRecord>(buckets.auth, { name: 'auth', log, kind: RECORDS.auth }).start();
    this.runner = new CoalescingRunner({ name: 'nats users', minIntervalMs: 20, maxIntervalMs: 30_000, retryMs: 500, log, run: () => this.sync() });
    this.mirror.onChange(() => this.runner?.request());
    this.runner.start();
  }

  private async sync(): Promise<void> {
    if (!this.mirror) return;
    await this.mirror.ready;
    const users: NodeUser[] = this.mirror
      .values()
      .map((r) => ({ nodeId: r.nodeId, user: r.user, passwordHash: r.passwordHash }))
      .sort((a, b) => a.user.localeCompare(b.user));
    const text = JSON.stringify(users);
    if (text === this.last) return;
    await this.deps.server.setNodeUsers(users);
    await writeSecretFile(join(this.deps.stateDir, CACHE_FILE), text + '\n');
    this.last = text;
    this.deps.log.info('nats-server users reloaded', { workers: users.length });
  }

  async stop(): Promise<void> {
    this.mirror?.stop();
    await this.runner?.stop();
  }
}
