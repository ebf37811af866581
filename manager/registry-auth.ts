/**
 * Registry logins sent with `meshctl stack deploy --with-registry-auth` (issue 13). Swarm keeps a
 * service's login in its spec, where every node can read it; here it is kept per service in the
 * managers-only mesh_secrets bucket, and a node gets it only for a service it runs a task of,
 * asked on its own subject (mesh.secret.<node>.registry-auth, which only that node may publish
 * on), right before the pull. The service record names the registry, never the login.
 */
import type { JetStreamManager, KV, NatsConnection, Subscription } from 'nats';
import type { ServiceRecord, TaskRecord } from '../core/model.js';
import { AuthError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { route, serve } from '../core/rpc.js';
import { encode } from '../core/state/codec.js';
import { decodeEntry, listKeys } from '../core/state/read.js';
import { SUBJECTS } from '../core/names.js';
import { SenderLimiter } from '../core/wire/limiter.js';
import { RECORDS } from '../core/wire/records.js';
import * as W from '../core/wire/schemas.js';
import { qualifyImage, registryOf } from '../worker/engine/podman-argv.js';

/** mesh_secrets `registry.<serviceId>`: the logins a service's image pulls use (registry -> base64 `user:password`). */
export interface RegistryAuthRecord {
  serviceId: string;
  auths: Record<string, string>;
  writtenAt: string;
}

export const registryAuthKey = (serviceId: string) => `registry.${serviceId}`;

/** The registry a service's image is pulled from; undefined for a command service. */
export function imageRegistry(svc: Pick<ServiceRecord, 'spec'>): string | undefined {
  return svc.spec.image === undefined ? undefined : registryOf(qualifyImage(svc.spec.image));
}

/** A node asks at most this often (its pulls retry with a backoff of 1 s and more). */
const REQUEST_RATE = { perSecond: 5, burst: 20 } as const;
/** A login whose service never committed (its manager died mid-deploy) goes after this long. */
export const ORPHAN_AFTER_MS = 10 * 60_000;

export class RegistryAuthStore {
  constructor(private readonly kv: KV) {}

  async get(serviceId: string): Promise<RegistryAuthRecord | undefined> {
    return decodeEntry(this.kv, RECORDS.registryAuth, await this.kv.get(registryAuthKey(serviceId)));
  }

  async put(serviceId: string, auths: Record<string, string>): Promise<void> {
    const record: RegistryAuthRecord = { serviceId, auths, writtenAt: new Date().toISOString() };
    await this.kv.put(registryAuthKey(serviceId), encode(record));
  }

  /**
   * Gone from the stream, with no delete marker either (nothing watches this bucket; readers
   * `get` a key, and a missing key is no login).
   */
  async remove(serviceId: string): Promise<void> {
    const { bucket, jsm } = this.kv as unknown as { bucket: string; jsm: JetStreamManager };
    await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${registryAuthKey(serviceId)}`, keep: 0 });
  }

  /** Leader sweep: logins of services that no longer exist (and are not a deploy in flight). */
  async removeOrphans(liveServiceIds: ReadonlySet<string>, now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    for (const key of await listKeys(this.kv, 'registry.*')) {
      const serviceId = key.slice('registry.'.length);
      if (liveServiceIds.has(serviceId)) continue;
      const entry = await this.kv.get(key);
      const record = decodeEntry(this.kv, RECORDS.registryAuth, entry);
      if (record && now - Date.parse(record.writtenAt) < ORPHAN_AFTER_MS) continue;
      await this.remove(serviceId);
      if (entry?.operation === 'PUT') removed.push(serviceId);
    }
    return removed;
  }
}

export interface RegistryAuthServerDeps {
  nc: NatsConnection;
  store: RegistryAuthStore;
  services: () => Iterable<ServiceRecord>;
  tasks: () => Iterable<TaskRecord>;
  log: Logger;
  queue: string;
}

/**
 * Answers `mesh.secret.<node>.registry-auth`: the login of the service's registry, only to a node
 * that runs (desired running) a task of that service; any other node is refused and logged.
 */
export function serveRegistryAuth(deps: RegistryAuthServerDeps): Subscription {
  const prefix = 'mesh.secret.';
  const nodeOf = (subject: string) => subject.slice(prefix.length).split('.')[0] ?? '';
  return serve(deps.nc, {
    subject: SUBJECTS.registryAuthAll,
    queue: deps.queue,
    log: deps.log,
    verbOf: () => 'registry-auth',
    senderOf: nodeOf,
    limiter: new SenderLimiter({ ...REQUEST_RATE }),
    routes: {
      'registry-auth': route(W.RegistryAuthRequest, async ({ serviceId }, msg) => {
        const node = nodeOf(msg.subject);
        const runs = [...deps.tasks()].some((t) => t.nodeId === node && t.serviceId === serviceId && t.desiredState === 'running');
        if (!runs) {
          deps.log.warn('registry login refused: the node runs no task of the service', { node, serviceId });
          throw new AuthError(`node ${node} runs no task of service ${serviceId}`);
        }
        const svc = [...deps.services()].find((s) => s.id === serviceId);
        const registry = svc && imageRegistry(svc);
        const record = registry !== undefined && svc?.registryAuth?.includes(registry) ? await deps.store.get(serviceId) : undefined;
        const auth = registry !== undefined ? record?.auths[registry] : undefined;
        return { auths: registry !== undefined && auth !== undefined ? { [registry]: auth } : {} };
      }),
    },
  });
}
