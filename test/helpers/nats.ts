import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { EmbeddedNats } from '../../manager/nats-server.js';
import { createLogger } from '../../core/log.js';

export interface TestNats {
  url: string;
  connect(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

let nextPort = 14222 + (process.pid % 500) * 2;

/** A real nats-server with JetStream on loopback, in a throwaway store; stop() removes it all. */
export async function startTestNats(): Promise<TestNats> {
  const dir = await mkdtemp(join(tmpdir(), 'meshd-nats-'));
  const port = nextPort;
  nextPort += 2;
  const server = new EmbeddedNats({
    serverName: `test-${port}`,
    host: '127.0.0.1',
    clientPort: port,
    clusterPort: port + 1,
    peers: [],
    stateDir: dir,
    log: createLogger({ level: 'warn' }),
  });
  await server.start();
  const conns: NatsConnection[] = [];
  return {
    url: server.url,
    async connect() {
      const nc = await connect({ servers: server.url });
      conns.push(nc);
      return nc;
    },
    async stop() {
      await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
