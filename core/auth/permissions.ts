/**
 * Who may do what on NATS, as nats-server `permissions` blocks (pure data; rendered into the
 * managers' nats-server config by manager/nats-auth.ts).
 *
 *   managers, admin (meshctl)   everything
 *   a worker node X             read every state bucket but mesh_auth and mesh_secrets; write only
 *                               its own status ($KV.mesh_status.X.*), what its data plane applied
 *                               ($KV.mesh_applied.X), its heartbeat and registration;
 *                               ask for the registry logins of its own tasks and for
 *                               CNI endpoints on itself (mesh.endpoint.X.*); serve
 *                               requests addressed to it (mesh.node.X.*)
 *   not yet joined (anonymous)  ask to join (mesh.join.*) and read the replies; nothing else
 */
import { BUCKETS, MANAGER_ONLY_BUCKETS, SUBJECTS } from '../names.js';
import { IMAGE_STORE } from '../state/image-store.js';

export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
  /** May answer requests it received (their reply subjects) and nothing else on _INBOX. */
  allow_responses?: boolean;
}

/**
 * Reply subjects (nats.js `inboxPrefix`) of a worker and of joiners. With `_INBOX.>` any node,
 * or anyone connecting without credentials, could subscribe to every reply in the cluster (a
 * `meshctl cluster join-token manager` answer among them) and publish into others' inboxes.
 */
export const workerInboxPrefix = (nodeId: string) => `_INBOX_${nodeId}`;
export const JOIN_INBOX_PREFIX = '_INBOX_join';

/** Buckets a worker reads (all but the managers' credential buckets). */
export const WORKER_READABLE_BUCKETS = Object.entries(BUCKETS)
  .filter(([key]) => !(MANAGER_ONLY_BUCKETS as readonly string[]).includes(key))
  .map(([, name]) => name);

/** JetStream API subjects that read one stream (info, get, watch with an ordered consumer): a KV bucket's `KV_<bucket>`, an object store's `OBJ_<name>`. */
function streamReadSubjects(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.FC.${stream}.>`,
    `$JS.ACK.${stream}.>`,
  ];
}

export function workerPermissions(nodeId: string): NatsPermissions {
  return {
    publish: {
      allow: [
        SUBJECTS.heartbeat(nodeId),
        SUBJECTS.register(nodeId),
        SUBJECTS.registryAuth(nodeId),
        SUBJECTS.endpoint(nodeId, '*'),
        `$KV.${BUCKETS.status}.${nodeId}.>`,
        `$KV.${BUCKETS.applied}.${nodeId}`,
        '$JS.API.INFO',
        ...WORKER_READABLE_BUCKETS.flatMap((b) => streamReadSubjects(`KV_${b}`)),
        // `meshctl image load`: the archive each node loads (core/state/image-store.ts); reading an
        // object looks its stream up by subject (stream names only).
        ...streamReadSubjects(`OBJ_${IMAGE_STORE}`),
        '$JS.API.STREAM.NAMES',
      ],
    },
    subscribe: { allow: [`${workerInboxPrefix(nodeId)}.>`, SUBJECTS.node(nodeId, '>')] },
    // replies to requests served by this node (task logs), and only to those
    allow_responses: true,
  };
}

export function joinPermissions(): NatsPermissions {
  return {
    publish: { allow: [SUBJECTS.join('>')] },
    subscribe: { allow: [`${JOIN_INBOX_PREFIX}.>`] },
  };
}
