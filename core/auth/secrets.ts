/**
 * The cluster's secrets, created with the cluster by its first manager and handed to every
 * manager that joins (sealed with the manager token). Kept in `<state-dir>/cluster-secrets.json`
 * (mode 0600) on managers only. Workers hold only their own credentials (`node.creds`).
 */
import { readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fingerprintOf, formatToken, newSecret, type JoinRole } from './tokens.js';

export interface TlsMaterial {
  caCert: string;
  caKey: string;
}

export interface ClusterSecrets {
  /** Names the cluster in tokens; sha256 of the CA certificate with TLS, else of a random key. */
  fingerprint: string;
  workerSecret: string;
  managerSecret: string;
  /** NATS user every manager connects as. */
  managerPassword: string;
  /** NATS user meshctl connects as (`<state-dir>/admin.creds` on every manager). */
  adminPassword: string;
  /** NATS route (manager <-> manager) credentials. */
  routePassword: string;
  tls?: TlsMaterial;
}

export interface NatsCredentials {
  user: string;
  password: string;
}

export const SECRETS_FILE = 'cluster-secrets.json';
export const NODE_CREDS_FILE = 'node.creds';
export const ADMIN_CREDS_FILE = 'admin.creds';
export const CA_FILE = 'ca.pem';

export const MANAGER_USER = 'mesh-manager';
export const ADMIN_USER = 'mesh-admin';
export const ROUTE_USER = 'mesh-route';
export const JOIN_USER = 'mesh-join';
export const nodeUser = (nodeId: string) => `node-${nodeId}`;

export function newClusterSecrets(tls?: TlsMaterial): ClusterSecrets {
  return {
    fingerprint: fingerprintOf(tls?.caCert ?? newSecret()),
    workerSecret: newSecret(),
    managerSecret: newSecret(),
    managerPassword: newSecret(),
    adminPassword: newSecret(),
    routePassword: newSecret(),
    ...(tls ? { tls } : {}),
  };
}

export function joinToken(s: ClusterSecrets, role: JoinRole): string {
  return formatToken({ fingerprint: s.fingerprint, secret: role === 'manager' ? s.managerSecret : s.workerSecret });
}

/** Writes a file readable by root only, atomically (never a half-written secret). */
export async function writeSecretFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export const loadSecrets = (stateDir: string) => readJson<ClusterSecrets>(join(stateDir, SECRETS_FILE));
export const loadCredentials = (path: string) => readJson<NatsCredentials>(path);

/** A manager's files: its secrets, meshctl's admin credentials, the CA (with TLS). */
export async function saveManagerFiles(stateDir: string, s: ClusterSecrets): Promise<void> {
  await writeSecretFile(join(stateDir, SECRETS_FILE), JSON.stringify(s, null, 2) + '\n');
  const admin: NatsCredentials & { ca?: string } = { user: ADMIN_USER, password: s.adminPassword, ...(s.tls ? { ca: s.tls.caCert } : {}) };
  await writeSecretFile(join(stateDir, ADMIN_CREDS_FILE), JSON.stringify(admin, null, 2) + '\n');
  if (s.tls) await writeFile(join(stateDir, CA_FILE), s.tls.caCert);
}
