/**
 * `meshctl image load -i ARCHIVE`: puts a docker-archive or oci-archive on every node (air-gapped
 * sites, images built on the operator's machine). The archive goes once into the cluster's image
 * store (JetStream object store, chunked and checksummed); each ready node with a container
 * engine is then asked to load it into its own store, all at once; the archive is removed after.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { MeshError, ValidationError } from '../../core/errors.js';
import { SUBJECTS } from '../../core/names.js';
import { request } from '../../core/rpc.js';
import { IMAGE_STORE_MAX_BYTES, openImageStore } from '../../core/state/image-store.js';
import * as W from '../../core/wire/schemas.js';
import { snapshot } from '../cluster-view.js';
import type { CommandContext } from './context.js';

/** One node's `podman load` of a large archive may take minutes. */
const LOAD_TIMEOUT_MS = 10 * 60_000;

export async function imageLoad(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { input: { type: 'string', short: 'i' } }, allowPositionals: true });
  if (positionals.length > 0) throw new ValidationError([`image load: unexpected argument ${JSON.stringify(positionals[0])}; the archive is given with -i/--input FILE`]);
  const file = values.input;
  if (!file) throw new ValidationError(['image load: -i/--input ARCHIVE is required (a docker-archive or oci-archive, as `podman save` or `docker save` write)']);
  const size = await stat(file).then(
    (st) => (st.isFile() ? st.size : -1),
    (err: NodeJS.ErrnoException) => {
      throw new ValidationError([`--input ${file}: cannot read: ${err.code ?? err.message}`]);
    },
  );
  if (size < 0) throw new ValidationError([`--input ${file}: not a file`]);
  if (size > IMAGE_STORE_MAX_BYTES) throw new ValidationError([`--input ${file}: ${size} bytes; the cluster's image store takes at most ${IMAGE_STORE_MAX_BYTES}`]);

  const nodes = (await snapshot(ctx.buckets)).nodes;
  const targets = nodes.filter((n) => n.status === 'ready' && n.containerEngine !== undefined);
  if (targets.length === 0) throw new MeshError('no ready node has a container engine (podman) to load the image into');
  for (const n of nodes.filter((x) => !targets.includes(x))) ctx.err(`warning: ${n.hostname}: not loaded (${n.status !== 'ready' ? `node is ${n.status}` : 'no container engine'})\n`);

  const store = await openImageStore(ctx.nc);
  const object = `load-${randomBytes(8).toString('hex')}`;
  await store.put({ name: object }, Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>);
  try {
    const results = await Promise.allSettled(
      targets.map((n) => request(ctx.nc, SUBJECTS.node(n.id, 'image-load'), { object }, { timeoutMs: LOAD_TIMEOUT_MS, result: W.ImageLoadReply })),
    );
    let failed = 0;
    results.forEach((r, i) => {
      const host = targets[i]!.hostname;
      if (r.status === 'fulfilled') for (const image of r.value.images) ctx.out(`${host}: Loaded image: ${image}\n`);
      else {
        failed++;
        ctx.err(`${host}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}\n`);
      }
    });
    return failed === 0 ? 0 : 1;
  } finally {
    await store.delete(object).catch(() => undefined);
  }
}
