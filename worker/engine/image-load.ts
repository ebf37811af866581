/**
 * A node's side of `meshctl image load`: the archive meshctl put in the cluster's image store is
 * read (chunks checked against the object's digest), written to a root-only file beside the node's
 * image store, loaded with `podman load`, and removed.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { NatsConnection } from 'nats';
import { NotFoundError } from '../../core/errors.js';
import { openImageStore } from '../../core/state/image-store.js';
import type { PodmanEngine } from './podman.js';

export async function loadFromImageStore(opts: { nc: NatsConnection; engine: PodmanEngine; object: string }): Promise<string[]> {
  const store = await openImageStore(opts.nc);
  const obj = await store.get(opts.object);
  if (!obj) throw new NotFoundError(`image archive ${opts.object} is not in the cluster's image store (expired or removed)`);
  const dir = opts.engine.loadDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${opts.object}.tar`);
  try {
    await pipeline(Readable.fromWeb(obj.data as unknown as WebReadableStream<Uint8Array>), createWriteStream(file, { mode: 0o600 }));
    // Rejects when a chunk was lost or the digest does not match.
    await obj.error;
    return await opts.engine.load(file);
  } finally {
    await rm(file, { force: true });
  }
}
