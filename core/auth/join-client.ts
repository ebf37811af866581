/**
 * The joining side of admission (manager/join.ts serves it): connect without credentials, check
 * the cluster's CA against the token's fingerprint when it uses TLS, send the token, open the
 * sealed grant.
 */
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { JOIN_INBOX_PREFIX } from './permissions.js';
import { request } from '../rpc.js';
import { decodeAs } from '../wire/decode.js';
import * as W from '../wire/schemas.js';
import { SUBJECTS } from '../names.js';
import { AuthError, MeshError } from '../errors.js';
import { fingerprintOf, parseToken, type JoinRole } from './tokens.js';
import { unseal } from './seal.js';
import type { JoinGrant, JoinRequest } from './join-protocol.js';

export interface JoinOptions {
  servers: string[];
  token: string;
  role: JoinRole;
  nodeId: string;
  hostname: string;
  passwordHash?: string;
  /** Proof for a node id the cluster already has: that node's current password (see JoinRequest). */
  currentPassword?: string;
}

/** TLS options for nats.js that trust exactly this CA. */
export function tlsTrusting(ca: string): ConnectionOptions['tls'] {
  return { ca };
}

async function connectAnonymously(servers: string[], tls: ConnectionOptions['tls'] | undefined): Promise<NatsConnection> {
  try {
    return await connect({ servers, name: 'meshd-join', timeout: 5_000, inboxPrefix: JOIN_INBOX_PREFIX, ...(tls ? { tls } : {}) });
  } catch (err) {
    throw new MeshError(`cannot reach a manager at ${servers.join(', ')} to join: ${(err as Error).message}`, { cause: err });
  }
}

/** Asks the cluster to admit this node; throws AuthError when the token is refused. */
export async function joinCluster(opts: JoinOptions): Promise<JoinGrant> {
  const token = parseToken(opts.token);
  let tls: ConnectionOptions['tls'] | undefined;
  let nc = await connectAnonymously(opts.servers, undefined).catch((err: Error) => {
    if (/tls|ssl|certificate/i.test(`${err.message} ${(err.cause as Error | undefined)?.message ?? ""}`)) return undefined; // the cluster requires TLS
    throw err;
  });
  if (!nc) {
    // The CA is public; fetched over an unverified connection, then pinned by the token.
    const probe = await connectAnonymously(opts.servers, { rejectUnauthorized: false } as ConnectionOptions['tls']);
    let ca: string | undefined;
    try {
      ca = (await request(probe, SUBJECTS.join('ca'), {}, { timeoutMs: 10_000, result: W.JoinCaReply })).ca;
    } finally {
      await probe.close();
    }
    if (!ca) throw new AuthError('the cluster requires TLS but sent no CA');
    if (fingerprintOf(ca) !== token.fingerprint) throw new AuthError('--join-token: the cluster\'s CA does not match the token\'s fingerprint (wrong cluster, or someone in between)');
    tls = tlsTrusting(ca);
    nc = await connectAnonymously(opts.servers, tls);
  }
  try {
    const req: JoinRequest = { token: opts.token.trim(), role: opts.role, nodeId: opts.nodeId, hostname: opts.hostname, ...(opts.passwordHash ? { passwordHash: opts.passwordHash } : {}), ...(opts.currentPassword ? { currentPassword: opts.currentPassword } : {}) };
    const { sealed } = await request(nc, SUBJECTS.join('request'), req, { timeoutMs: 15_000, result: W.JoinReply });
    return decodeAs(W.JoinGrant, new TextEncoder().encode(unseal(token.secret, sealed)));
  } finally {
    await nc.close();
  }
}
