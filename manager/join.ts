/**
 * Admission: nodes not yet in the cluster connect without credentials (NATS maps them to the
 * join user, which may only publish mesh.join.*) and ask a manager to let them in.
 *
 *   mesh.join.ca        -> the cluster's CA certificate (public; the joiner checks it against
 *                          the fingerprint in its token before trusting it)
 *   mesh.join.request   {token, role, nodeId, hostname, passwordHash?, currentPassword?}
 *     worker token      -> the node's NATS user is recorded in mesh_auth (its bcrypt hash only;
 *                          the node chose the password), every manager's nats-server reloads
 *     manager token     -> the cluster secrets, sealed with the manager token
 * A wrong token is refused with a clear error and logged (with the node's name and id). A node id
 * the cluster already has is admitted only with that node's current password as proof
 * (`currentPassword`; join-identity.ts); it is never logged.
 */
import type { KV, NatsConnection, Subscription } from 'nats';
import * as W from '../core/wire/schemas.js';
import { SenderLimiter } from '../core/wire/limiter.js';
import { JOIN_RATE } from '../core/wire/limits.js';
import { MANAGER_QUEUE, SUBJECTS } from '../core/names.js';
import { route, serve } from '../core/rpc.js';
import type { Logger } from '../core/log.js';
import { AuthError, MeshError, ValidationError } from '../core/errors.js';
import type { ClusterSecrets } from '../core/auth/secrets.js';
import { parseToken, sameSecret } from '../core/auth/tokens.js';
import { seal } from '../core/auth/seal.js';
import type { JoinGrant, JoinRequest } from '../core/auth/join-protocol.js';
import { admitWorker, checkManagerId, JoinRefusal } from './join-identity.js';

export type { NodeAuthRecord } from './join-identity.js';

const ID = /^[0-9a-z]{8,64}$/;
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

function check(req: Partial<JoinRequest>): JoinRequest {
  const problems: string[] = [];
  if (req.role !== 'manager' && req.role !== 'worker') problems.push('role: must be manager or worker');
  if (typeof req.nodeId !== 'string' || !ID.test(req.nodeId)) problems.push('nodeId: must be 8-64 characters of [0-9a-z]');
  if (typeof req.hostname !== 'string' || req.hostname.length === 0 || req.hostname.length > 253) problems.push('hostname: required (at most 253 characters)');
  if (typeof req.token !== 'string') problems.push('token: required');
  if (req.role === 'worker' && (typeof req.passwordHash !== 'string' || !BCRYPT.test(req.passwordHash))) problems.push('passwordHash: must be a bcrypt hash');
  if (req.currentPassword !== undefined && (typeof req.currentPassword !== 'string' || req.currentPassword.length === 0 || req.currentPassword.length > 256)) problems.push('currentPassword: must be a string of 1-256 characters');
  if (problems.length) throw new ValidationError(problems);
  return req as JoinRequest;
}

/**
 * Served from the moment a manager is connected, before its state buckets open: a cluster of
 * several managers reaches JetStream quorum only once the others have joined (got the secrets),
 * so manager admission cannot wait for the buckets. Worker admission does (`auth()` undefined
 * until then: the worker is told to retry).
 */
export function serveJoin(deps: { nc: NatsConnection; auth: () => KV | undefined; nodes: () => KV | undefined; secrets: ClusterSecrets; log: Logger }): Subscription {
  const { secrets, log } = deps;
  return serve(deps.nc, {
    subject: SUBJECTS.join('*'),
    queue: MANAGER_QUEUE,
    log,
    verbOf: (s) => s.slice(SUBJECTS.join('').length),
    // Anonymous: no sender to tell apart, so one limit for all join requests together.
    senderOf: () => 'anonymous',
    limiter: new SenderLimiter({ ...JOIN_RATE }),
    routes: {
      ca: route(W.JoinCaRequest, async () => ({ ca: secrets.tls?.caCert })),
      request: route(W.JoinRequest, async (payload) => {
        const req = check(payload);
        const refuse = (reason: string): never => {
          log.warn('join refused', { node: req.hostname, id: req.nodeId, role: req.role, reason });
          throw new AuthError(`join refused: ${reason}`);
        };
        let token;
        try {
          token = parseToken(req.token, 'token');
        } catch {
          return refuse('malformed join token');
        }
        if (token.fingerprint !== secrets.fingerprint) refuse('the token is for another cluster');
        const want = req.role === 'manager' ? secrets.managerSecret : secrets.workerSecret;
        if (!sameSecret(token.secret, want)) {
          const other = req.role === 'manager' ? secrets.workerSecret : secrets.managerSecret;
          refuse(sameSecret(token.secret, other) ? `a ${req.role === 'manager' ? 'worker' : 'manager'} token cannot join a ${req.role}` : `invalid ${req.role} join token`);
        }
        const grant: JoinGrant = { ca: secrets.tls?.caCert };
        try {
          if (req.role === 'manager') {
            // Before the state opens (quorum needs the joining managers) there is nothing to check.
            await checkManagerId({ auth: deps.auth(), nodes: deps.nodes() }, req.nodeId);
            grant.secrets = secrets;
          } else {
            const auth = deps.auth();
            if (!auth) throw new MeshError('the cluster is starting: its state is not open yet; retry');
            grant.user = await admitWorker({ auth, nodes: deps.nodes() }, req);
          }
        } catch (err) {
          if (err instanceof JoinRefusal) refuse(err.message);
          throw err;
        }
        log.info('node admitted', { node: req.hostname, id: req.nodeId, role: req.role });
        return { sealed: seal(token.secret, JSON.stringify(grant)) };
      }),
    },
  });
}
