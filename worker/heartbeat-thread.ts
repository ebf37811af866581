/**
 * The heartbeat thread (a worker_thread; entry `dist/heartbeat-thread.mjs` in the bundle). It has
 * its own NATS connection with the node's own credentials, so no busy sync on meshd's main event
 * loop can delay a heartbeat: it publishes the node's announcement on `mesh.hb.<id>` every
 * HEARTBEAT_INTERVAL_MS and answers the leader's direct probe (`mesh.node.<id>.live.ping`).
 *
 * The main thread posts `alive` every beat; if it stays silent for `mainStallLimitMs` the thread
 * stops beating (a wedged meshd must not look alive forever). `stop` publishes a last beat
 * carrying `restartGraceMs` (graceful restart), flushes and exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { HEARTBEAT_INTERVAL_MS, SUBJECTS } from '../core/names.js';
import type { NodeAnnouncement } from '../manager/node-registry.js';

export interface HeartbeatThreadData {
  servers: string[];
  connect: Pick<ConnectionOptions, 'user' | 'pass' | 'tls'>;
  node: NodeAnnouncement;
  name: string;
  mainStallLimitMs: number;
}

export type ToHeartbeatThread = { type: 'alive' } | { type: 'stop'; restartGraceMs: number };
export type FromHeartbeatThread = { type: 'connected' } | { type: 'stopped' } | { type: 'warn'; msg: string; err: string };

const enc = new TextEncoder();

async function run(data: HeartbeatThreadData): Promise<void> {
  const port = parentPort!;
  const post = (m: FromHeartbeatThread) => port.postMessage(m);
  let mainSeen = performance.now();
  let stalled = false;
  const nc: NatsConnection = await connectForever(data, post);
  post({ type: 'connected' });
  const beat = (extra: Partial<NodeAnnouncement> = {}) => {
    try {
      nc.publish(SUBJECTS.heartbeat(data.node.id), enc.encode(JSON.stringify({ ...data.node, ...extra })));
    } catch {
      // reconnecting: the next beat tries again
    }
  };
  const probes = nc.subscribe(SUBJECTS.livenessProbe(data.node.id), {
    callback: (_err, msg) => {
      if (!stalled && msg.reply) msg.respond(enc.encode(JSON.stringify({ ok: true, result: { id: data.node.id } })));
    },
  });
  const timer = setInterval(() => {
    const wasStalled = stalled;
    stalled = performance.now() - mainSeen > data.mainStallLimitMs;
    if (stalled !== wasStalled) post({ type: 'warn', msg: stalled ? 'main thread silent: heartbeats stopped' : 'main thread back: heartbeats resumed', err: '' });
    if (!stalled) beat();
  }, HEARTBEAT_INTERVAL_MS);
  beat();
  port.on('message', (m: ToHeartbeatThread) => {
    if (m.type === 'alive') {
      mainSeen = performance.now();
      return;
    }
    clearInterval(timer);
    probes.unsubscribe();
    beat({ restartGraceMs: m.restartGraceMs });
    void nc
      .flush()
      .catch(() => undefined)
      .then(() => nc.close())
      .catch(() => undefined)
      .then(() => {
        post({ type: 'stopped' });
        port.close();
      });
  });
}

async function connectForever(data: HeartbeatThreadData, post: (m: FromHeartbeatThread) => void): Promise<NatsConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect({ servers: data.servers, name: `${data.name}-heartbeat`, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 5_000, ...data.connect });
    } catch (err) {
      if (attempt % 10 === 1) post({ type: 'warn', msg: 'heartbeat connection failed; retrying', err: String(err) });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

if (parentPort) void run(workerData as HeartbeatThreadData);
