/**
 * `meshctl image load`: an image archive on its way to every node, held in a JetStream object
 * store (chunked, checksummed) that managers create and every node may read. Objects expire on
 * their own after an hour, so an upload whose meshctl died does not stay.
 */
import type { NatsConnection, ObjectStore } from 'nats';
import { StorageType } from 'nats';

export const IMAGE_STORE = 'mesh_images';
/** The largest archive a load accepts (the store's whole size: one load at a time fits). */
export const IMAGE_STORE_MAX_BYTES = 2 * 1024 ** 3;
const TTL_NS = 60 * 60 * 1e9;

/** Managers create it (`create`); nodes and meshctl bind to it. */
export async function openImageStore(nc: NatsConnection, opts: { create?: { replicas: number } } = {}): Promise<ObjectStore> {
  const js = nc.jetstream(opts.create ? {} : { checkAPI: false });
  return js.views.os(IMAGE_STORE, opts.create ? { replicas: opts.create.replicas, max_bytes: IMAGE_STORE_MAX_BYTES, storage: StorageType.File, ttl: TTL_NS } : {});
}

/** Names of uploaded archives: `load-<16 hex>`. */
export const IMAGE_OBJECT_PATTERN = /^load-[0-9a-f]{16}$/;
