/**
 * Who this meshd is to NATS, settled before it connects:
 *   a manager with secrets in its state dir     -> the manager user
 *   a manager without, started with a token     -> joins (the grant carries the cluster secrets)
 *   a manager without, started without a token  -> creates the cluster: new secrets (and CA)
 *   a worker with node.creds                    -> its own user
 *   a worker without, started with a token      -> joins: chooses a password, sends its bcrypt
 *                                                  hash, keeps the password in node.creds
 * With --nats-url (a NATS run by someone else) meshd manages no credentials.
 */
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import type { ConnectionOptions } from 'nats';
import type { Logger } from '../core/log.js';
import { AuthError, ValidationError } from '../core/errors.js';
import { joinCluster, type JoinOptions } from '../core/auth/join-client.js';
import type { JoinGrant } from '../core/auth/join-protocol.js';
import { newSecret } from '../core/auth/tokens.js';
import {
  MANAGER_USER,
  NODE_CREDS_FILE,
  loadCredentials,
  loadSecrets,
  newClusterSecrets,
  saveManagerFiles,
  writeSecretFile,
  type ClusterSecrets,
} from '../core/auth/secrets.js';
import { newClusterCa } from '../manager/tls.js';
import { workerInboxPrefix } from '../core/auth/permissions.js';
import type { MeshdConfig } from './meshd-flags.js';

export interface NodeIdentity {
  /** user/pass/tls for nats.js connect(). */
  connect: Pick<ConnectionOptions, 'user' | 'pass' | 'tls' | 'inboxPrefix'>;
  /** Managers only. */
  secrets?: ClusterSecrets;
  /** Where the credentials live (for error messages). */
  source: string;
}

/**
 * Joins, retrying while no manager answers yet (starting up, unreachable); a refusal (wrong
 * token) is final. A worker's later attempts prove the password it chose (`password`): when an
 * earlier attempt was admitted but its reply lost, the node id is already taken, by this node.
 */
async function joinWithRetry(opts: JoinOptions, log: Logger, password?: string): Promise<JoinGrant> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await joinCluster(attempt > 1 && password ? { ...opts, currentPassword: password } : opts);
    } catch (err) {
      if (err instanceof AuthError || err instanceof ValidationError) throw err;
      if (attempt % 10 === 1) log.warn('join: no manager answered yet; retrying', { attempt, err });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function joinServers(config: MeshdConfig): string[] {
  return config.join.filter((a) => a !== config.advertiseAddr).map((a) => `nats://${a}:${config.natsPort}`);
}

async function managerIdentity(config: MeshdConfig, nodeId: string, log: Logger): Promise<NodeIdentity> {
  let secrets = await loadSecrets(config.stateDir);
  if (!secrets) {
    if (config.joinToken) {
      const servers = joinServers(config);
      if (servers.length === 0) throw new ValidationError(['--join: list at least one other manager to join with a manager token']);
      const grant = await joinWithRetry({ servers, token: config.joinToken, role: 'manager', nodeId, hostname: config.nodeName }, log);
      if (!grant.secrets) throw new Error('join grant for a manager carried no cluster secrets');
      secrets = grant.secrets;
      log.info('joined the cluster as a manager', { via: servers.join(',') });
    } else {
      secrets = newClusterSecrets(config.tls ? await newClusterCa() : undefined);
      log.info('created a new cluster: get join tokens with meshctl cluster join-token worker|manager', { tls: config.tls, stateDir: config.stateDir });
    }
    await saveManagerFiles(config.stateDir, secrets);
  } else if (config.tls && !secrets.tls) {
    throw new ValidationError(['--tls: this cluster was created without TLS; TLS is chosen when a cluster is created']);
  }
  return {
    connect: { user: MANAGER_USER, pass: secrets.managerPassword, ...(secrets.tls ? { tls: { ca: secrets.tls.caCert } } : {}) },
    secrets,
    source: join(config.stateDir, 'cluster-secrets.json'),
  };
}

async function workerIdentity(config: MeshdConfig, nodeId: string, log: Logger): Promise<NodeIdentity> {
  const file = join(config.stateDir, NODE_CREDS_FILE);
  let creds = await loadCredentials(file);
  if (!creds) {
    if (!config.joinToken) throw new ValidationError(['--join-token-file: a worker joins a cluster with a worker token (get one on a manager with: meshctl cluster join-token worker; or set MESHD_JOIN_TOKEN)']);
    const password = newSecret();
    const passwordHash = await bcrypt.hash(password, 10);
    const grant = await joinWithRetry({ servers: joinServers(config), token: config.joinToken, role: 'worker', nodeId, hostname: config.nodeName, passwordHash }, log, password);
    if (!grant.user) throw new Error('join grant for a worker carried no user');
    creds = { user: grant.user, password, ...(grant.ca ? { ca: grant.ca } : {}) };
    await writeSecretFile(file, JSON.stringify(creds, null, 2) + '\n');
    log.info('joined the cluster as a worker', { user: grant.user });
  }
  const ca = (creds as { ca?: string }).ca;
  return { connect: { user: creds.user, pass: creds.password, inboxPrefix: workerInboxPrefix(nodeId), ...(ca ? { tls: { ca } } : {}) }, source: file };
}

export async function establishIdentity(config: MeshdConfig, nodeId: string, log: Logger): Promise<NodeIdentity | undefined> {
  if (config.natsUrl) return undefined;
  return config.role === 'worker' ? workerIdentity(config, nodeId, log) : managerIdentity(config, nodeId, log);
}
