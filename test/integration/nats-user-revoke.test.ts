/**
 * What `meshctl node rm` relies on from nats-server (Debian's 2.9): a worker user dropped from
 * the config (manager/nats-users.ts rewrites it and sends SIGHUP) loses its open connection on
 * reload, and nats.js then gives up (two authorization refusals in a row) instead of retrying
 * for ever; a new connection with those credentials is refused. Loopback, a throwaway store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { connect } from 'nats';
import { EmbeddedNats, type NodeUser } from '../../manager/nats-server.js';
import { workerInboxPrefix } from '../../core/auth/permissions.js';
import { createLogger } from '../../core/log.js';

describe('nats-server: a removed worker user', () => {
  let dir: string;
  let server: EmbeddedNats;
  const port = 15222 + (process.pid % 400) * 2;
  const password = 'worker-password-1';
  let user: NodeUser;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-revoke-'));
    user = { nodeId: 'w1', user: 'node-w1', passwordHash: await bcrypt.hash(password, 4) };
    server = new EmbeddedNats({
      serverName: 'revoke',
      host: '127.0.0.1',
      clientPort: port,
      clusterPort: port + 1,
      peers: [],
      stateDir: dir,
      auth: { managerPassword: 'm', adminPassword: 'a', routePassword: 'r', nodeUsers: [user] },
      log: createLogger({ level: 'warn' }),
    });
    await server.start();
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const asWorker = () => connect({ servers: server.url, user: user.user, pass: password, inboxPrefix: workerInboxPrefix('w1'), maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 3_000 });

  it('ends its open connection on reload, and refuses it from then on', async () => {
    const nc = await asWorker();
    const closed = nc.closed();
    const startedAt = Date.now();
    await server.setNodeUsers([]);
    const err = await Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('still open after 10 s'), 10_000))]);
    expect(String(err instanceof Error ? err.message : err)).toMatch(/authorization violation/i);
    console.log(`revoked connection closed ${Date.now() - startedAt} ms after the reload signal`);
    await expect(asWorker()).rejects.toThrow(/authorization violation/i);
  });
});
