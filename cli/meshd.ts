import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { taskMaskPaths } from '../worker/masks.js';
import { RunPaths } from '../worker/paths.js';
import { resolve as resolvePath } from 'node:path';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { newId } from '../core/ids.js';
import { createLogger, type Logger } from '../core/log.js';
import { logMemoryOnSignal } from '../core/memory.js';
import { openBuckets, type Buckets } from '../core/state/buckets.js';
import { openImageStore } from '../core/state/image-store.js';
import { availableParallelism, totalmem } from 'node:os';
import { AuthError, MeshError, ValidationError } from '../core/errors.js';
import { establishIdentity } from './meshd-identity.js';
import { writeServerCert } from '../manager/tls.js';
import { cachedNodeUsers } from '../manager/nats-users.js';
import { serveJoin } from '../manager/join.js';
import { EmbeddedNats } from '../manager/nats-server.js';
import { Manager } from '../manager/manager.js';
import { Worker, type WorkerOptions } from '../worker/worker.js';
import { PodmanEngine, detectPodman } from '../worker/engine/podman.js';
import { MESHD_USAGE, parseMeshdFlags, type MeshdConfig } from './meshd-flags.js';
import { chooseLbApplier } from '../worker/dataplane/select-backend.js';

/** The node's id survives restarts: it lives in the state dir. */
async function nodeIdOf(stateDir: string): Promise<string> {
  const file = join(stateDir, 'node-id');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const id = newId();
    await writeFile(file, id + '\n');
    return id;
  }
}

async function retry<T>(what: string, log: Logger, signal: AbortSignal, fn: () => Promise<T>, giveUp?: (err: unknown, attempt: number) => Error | undefined): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted) throw err;
      const fatal = giveUp?.(err, attempt);
      if (fatal) throw fatal;
      if (attempt % 10 === 1) log.warn(`${what} failed; retrying`, { attempt, err });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function natsServers(config: MeshdConfig, embedded: EmbeddedNats | undefined): string[] {
  if (config.natsUrl) return config.natsUrl.split(',');
  const urls = config.join.map((a) => `nats://${a}:${config.natsPort}`);
  if (embedded) urls.unshift(embedded.url);
  return [...new Set(urls)];
}

async function main(argv: string[]): Promise<void> {
  let config: MeshdConfig | 'help';
  try {
    config = parseMeshdFlags(argv);
  } catch (err) {
    process.stderr.write(`meshd: ${err instanceof ValidationError ? err.problems.join('\nmeshd: ') : (err as Error).message}\n\n${MESHD_USAGE}`);
    process.exit(2);
  }
  if (config === 'help') {
    process.stdout.write(MESHD_USAGE);
    return;
  }
  // Nothing meshd starts (nats-server, tasks) inherits the token.
  delete process.env.MESHD_JOIN_TOKEN;
  const log = createLogger({ base: { node: config.nodeName } });
  if (config.joinTokenFrom === 'flag') log.warn('--join-token: the token is on the command line, which every local user can read (/proc/<pid>/cmdline); use --join-token-file FILE or MESHD_JOIN_TOKEN');
  await mkdir(config.stateDir, { recursive: true });
  await mkdir(config.runDir, { recursive: true });
  const nodeId = await nodeIdOf(config.stateDir);
  const isManager = config.role !== 'worker';
  const abort = new AbortController();
  const managers = [...new Set([...config.join, ...(isManager ? [config.advertiseAddr] : [])])];

  const identity = await establishIdentity(config, nodeId, log);
  const secrets = identity?.secrets;
  let embedded: EmbeddedNats | undefined;
  if (isManager && !config.natsUrl) {
    const tls = secrets?.tls ? await writeServerCert(secrets.tls, config.advertiseAddr, config.stateDir) : undefined;
    embedded = new EmbeddedNats({
      serverName: `${config.nodeName}-${nodeId.slice(0, 8)}`,
      host: config.advertiseAddr,
      clientPort: config.natsPort,
      clusterPort: config.clusterPort,
      peers: managers.filter((a) => a !== config.advertiseAddr),
      stateDir: config.stateDir,
      ...(secrets ? { auth: { managerPassword: secrets.managerPassword, adminPassword: secrets.adminPassword, routePassword: secrets.routePassword, nodeUsers: await cachedNodeUsers(config.stateDir) } } : {}),
      ...(tls ? { tls } : {}),
      log,
    });
    await embedded.start();
  }
  const servers = natsServers(config, embedded);
  // Just after joining, managers may take a moment to load this node's user: allow 15 s of refusals.
  const refused = (err: unknown, attempt: number) =>
    /authorization violation/i.test(String((err as Error).message)) && attempt > 30
      ? new AuthError(`the cluster refuses this node's credentials (${identity?.source}); if the node was removed (meshctl node rm), delete that file and join again with --join-token-file`)
      : undefined;
  const nc: NatsConnection = await retry(
    'connect to NATS',
    log,
    abort.signal,
    () => connect({ servers, name: `meshd-${config.nodeName}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 5_000, ...identity?.connect }),
    refused,
  );
  exitWhenRevoked(nc, identity?.source, log);
  // Admission first: managers joining now are what gives JetStream its quorum (see serveJoin).
  let buckets: Buckets | undefined;
  const admission = secrets ? serveJoin({ nc, auth: () => buckets?.auth, nodes: () => buckets?.nodes, secrets, log }) : undefined;
  const replicas = Math.min(3, Math.max(1, managers.length));
  buckets = await retry('open state buckets', log, abort.signal, () => openBuckets(nc, isManager ? { create: { replicas } } : {}));
  // `meshctl image load` needs it; a manager that cannot create it still runs everything else.
  if (isManager) await openImageStore(nc, { create: { replicas } }).catch((err: unknown) => log.warn('could not create the image store; meshctl image load will fail', { err }));

  let manager: Manager | undefined;
  if (isManager) {
    manager = new Manager({ nc, buckets, nodeId, log, cluster: config, secrets, nodeDownAfterMs: config.nodeDownAfterMs, nats: embedded && { server: embedded, stateDir: config.stateDir } });
    await retry('start manager', log, abort.signal, () => manager!.start());
  }
  let worker: Worker | undefined;
  const lbApplier = await chooseLbApplier(config.lbBackend, log);
  const engine = await containerEngine(config, log);
  worker = new Worker({
    lbApplier,
    gatewaySubnet: config.gatewaySubnet,
    dns: { ttl: config.dnsTtl, upstreams: config.dnsUpstreams },
    nc,
    buckets,
    runDir: config.runDir,
    taskMasks: taskMaskPaths({ stateDir: config.stateDir, runDir: config.runDir, env: process.env }),
    log,
    stopGraceMs: config.stopGraceMs,
    resyncEveryMs: config.resyncEveryMs,
    heartbeat: { servers, connect: identity?.connect ?? {} },
    logLimits: config.logLimits,
    engine,
    node: {
      id: nodeId,
      hostname: config.nodeName,
      role: isManager ? 'manager' : 'worker',
      runsTasks: config.role !== 'manager',
      addr: config.advertiseAddr,
      labels: config.labels,
      ...(engine.ok && { containerEngine: `podman ${engine.engine.base.version}` }),
      cniSocket: resolvePath(new RunPaths(config.runDir).cniSocket),
      resources: { nanoCpus: availableParallelism() * 1e9, memoryBytes: totalmem() },
    },
  });
  await worker.start(abort.signal);
  log.info('meshd ready', { role: config.role, id: nodeId, nats: servers.join(',') });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down; tasks keep running (live restore)', { signal });
    abort.abort();
    await worker?.stop();
    admission?.unsubscribe();
    await manager?.stop();
    await nc.drain().catch(() => undefined);
    await embedded?.stop();
    process.exit(0);
  };
  logMemoryOnSignal(log);
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main(process.argv.slice(2)).catch((err) => {
  // Refusals and bad flags are the operator's to fix: say what, without a stack trace.
  const plain = err instanceof ValidationError ? err.problems.join('\nmeshd: ') : err instanceof MeshError ? err.message : undefined;
  process.stderr.write(`meshd: ${plain ?? (err instanceof Error ? err.stack ?? err.message : String(err))}\n`);
  process.exit(1);
});

/**
 * A node removed from the cluster (`meshctl node rm --force`) has its NATS user deleted: the
 * servers end its connection and refuse it again, and nats.js gives up after two refusals in a
 * row. Nothing of meshd works without that connection, so it says why once and exits, instead
 * of every part logging its own failures for ever. Its tasks are left running (as on SIGTERM).
 */
function exitWhenRevoked(nc: NatsConnection, source: string | undefined, log: Logger): void {
  void nc.closed().then((err) => {
    if (!err || !/authorization violation/i.test(String(err.message))) return;
    log.error(`the cluster revoked this node's credentials (${source}): it was removed (meshctl node rm); meshd stops. To join again, delete that file and start meshd with --join-token-file`, { err });
    process.exit(1);
  });
}

/** Finds the container engine and says what it found: how image tasks will run here, or why not. */
async function containerEngine(config: MeshdConfig, log: Logger): Promise<WorkerOptions['engine']> {
  if (config.role === 'manager') return { ok: false, reason: 'this node runs no tasks' };
  const found = await detectPodman({ stateDir: config.stateDir, runDir: config.runDir, insecureRegistries: config.insecureRegistries });
  if (!found.ok) {
    log.warn('no container engine: services with an image cannot run here', { reason: found.reason });
    return found;
  }
  const s = found.base;
  log.info('container engine', { engine: `podman ${s.version}`, runtime: s.runtime, cgroups: s.cgroupManager, store: s.root, nofile: s.limits.nofile.hard, nproc: s.limits.nproc.hard });
  return { ok: true, engine: new PodmanEngine(s) };
}
