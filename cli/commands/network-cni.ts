import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConflictError, ValidationError } from '../../core/errors.js';
import type { NetworkRecord, NodeRecord } from '../../core/model.js';
import { refusalOf } from '../../manager/endpoints.js';
import { findOne, snapshot } from '../cluster-view.js';
import type { CommandContext } from './context.js';

/**
 * The conflist a runtime on `node` loads to put containers on `net` (`type: meshd`). `cniVersion`
 * is 1.0.0, which every libcni since 2021 reads (podman 4.3's among them); newer ones pick the
 * highest of `cniVersions` they know.
 */
export function cniConflist(net: NetworkRecord, node: NodeRecord): Record<string, unknown> {
  if (!node.cniSocket) throw new ConflictError(`node ${node.hostname} has not announced a CNI socket (its meshd predates the CNI plugin, or it runs no worker)`);
  return {
    cniVersion: '1.0.0',
    cniVersions: ['0.4.0', '1.0.0', '1.1.0'],
    name: net.name,
    plugins: [{ type: 'meshd', socket: node.cniSocket, network: net.name }],
  };
}

/** `meshctl network cni-config NET --node NODE [--write DIR]`. */
export async function networkCniConfig(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { node: { type: 'string' }, write: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new ValidationError(['network cni-config: exactly one NETWORK argument is required']);
  if (!values.node) throw new ValidationError(['network cni-config: --node NODE is required (the node whose meshd the runtime talks to)']);
  const snap = await snapshot(ctx.buckets);
  const net = findOne(snap.networks, positionals[0]!, (n) => [n.name], 'network');
  const refusal = refusalOf(net);
  if (refusal) throw new ConflictError(refusal);
  const node = findOne(snap.nodes, values.node, (n) => [n.hostname], 'node');
  const text = JSON.stringify(cniConflist(net, node), null, 2) + '\n';
  if (values.write === undefined) {
    ctx.out(text);
    return 0;
  }
  await mkdir(values.write, { recursive: true });
  const file = join(values.write, `${net.name}.conflist`);
  // Written whole or not at all: a runtime may read the directory at any moment.
  await writeFile(`${file}.tmp`, text, { mode: 0o644 });
  await rename(`${file}.tmp`, file);
  ctx.out(`${file}\n`);
  return 0;
}
