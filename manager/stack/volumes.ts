/**
 * Compose `volumes`: a service's mounts (short `SRC:DST[:ro|rw]` or long `{type, source, target,
 * read_only}`) and the top-level named volumes, by Swarm's rules: a bind mount names an absolute
 * path on the node that runs the task; a named volume is the node's own local volume, created
 * there on first use and named `<stack>_<name>` (or its `name:`, or as-is when `external`); a
 * target alone is an anonymous volume, removed with its container.
 */
import * as z from 'zod';
import { convert } from './convert.js';
import type { MountSpec } from '../../core/model.js';
import { type Conv, type PathSeg, type Problem, describe, expect, fail, ok, problemAt } from './issues.js';
import { parseBytes } from './container-keys.js';

const str = z.string({ error: expect('a string') });
const bool = z.boolean({ error: expect('true or false') });

/** A local volume's name (Docker's rule). */
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A mount as written, before named volumes are resolved against the top level. */
export interface MountEntry {
  type: MountSpec['type'];
  /** bind: the node path; volume: the name as the file writes it; absent: anonymous / tmpfs. */
  source?: string;
  target: string;
  readOnly: boolean;
  sizeBytes?: number;
}

/** Paths go into podman's `--mount` list and `--volume`: a comma or colon would start another field. */
function mountPath(v: string, what: string): Conv<string> {
  if (!v.startsWith('/')) return fail(`${what} must be an absolute path, got ${describe(v)}`);
  if (/[,:\0]/.test(v)) return fail(`${what} must not contain a comma or a colon, got ${describe(v)}`);
  return ok(v.length > 1 ? v.replace(/\/+$/, '') : v);
}

function sourceType(source: string): Conv<'bind' | 'volume'> {
  if (source.startsWith('/')) return ok('bind');
  if (source.startsWith('.') || source.startsWith('~')) return fail(`relative bind mount ${describe(source)}: use an absolute path on the node (a stack's tasks run on any node)`);
  return VOLUME_NAME.test(source) ? ok('volume') : fail(`invalid volume name ${describe(source)}`);
}

/** `DST`, `SRC:DST` or `SRC:DST:MODE` (MODE `ro` or `rw`). */
export function parseShortMount(v: string): Conv<MountEntry> {
  const parts = v.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) return fail(`expected "TARGET", "SOURCE:TARGET" or "SOURCE:TARGET:ro", got ${describe(v)}`);
  if (parts.length === 1) {
    const target = mountPath(parts[0]!, 'target');
    return target.ok ? ok({ type: 'volume', target: target.value, readOnly: false }) : target;
  }
  const [source, rawTarget, mode = 'rw'] = parts as [string, string, string?];
  if (mode !== 'ro' && mode !== 'rw') return fail(`mode must be ro or rw, got ${describe(mode)}`);
  const type = sourceType(source);
  if (!type.ok) return type;
  const target = mountPath(rawTarget, 'target');
  if (!target.ok) return target;
  const src = type.value === 'bind' ? mountPath(source, 'source') : ok(source);
  if (!src.ok) return src;
  return ok({ type: type.value, source: src.value, target: target.value, readOnly: mode === 'ro' });
}

const shortMount = convert(str, parseShortMount);

const longMount = z
  .looseObject(
    {
      type: z.enum(['bind', 'volume', 'tmpfs'], { error: expect('bind, volume or tmpfs') }),
      source: str.optional(),
      target: str,
      read_only: bool.optional(),
      tmpfs: z.looseObject({ size: z.union([str, z.number()], { error: expect('a size like "64m"') }).optional() }, { error: expect('a mapping') }).optional(),
    },
    { error: expect('a mapping with type, source and target') },
  )
  .transform((m, ctx): MountEntry => {
    const issue = (message: string, path: PathSeg[]) => ctx.addIssue({ code: 'custom', message, input: m, path });
    const target = mountPath(m.target, 'target');
    if (!target.ok) issue(target.message, ['target']);
    let source: string | undefined;
    if (m.type === 'bind') {
      const src = m.source === undefined ? fail<string>('required for a bind mount: an absolute path on the node') : mountPath(m.source, 'source');
      if (src.ok) source = src.value;
      else issue(src.message, ['source']);
    } else if (m.type === 'volume' && m.source !== undefined) {
      if (VOLUME_NAME.test(m.source)) source = m.source;
      else issue(`invalid volume name ${describe(m.source)}`, ['source']);
    } else if (m.type === 'tmpfs' && m.source !== undefined) issue('a tmpfs mount has no source', ['source']);
    let sizeBytes: number | undefined;
    if (m.tmpfs?.size !== undefined) {
      const size = parseBytes(m.tmpfs.size);
      if (size.ok && m.type === 'tmpfs') sizeBytes = size.value;
      else issue(size.ok ? 'tmpfs options apply only to type tmpfs' : size.message, ['tmpfs', 'size']);
    }
    return { type: m.type, ...(source !== undefined && { source }), target: target.ok ? target.value : m.target, readOnly: m.read_only ?? false, ...(sizeBytes !== undefined && { sizeBytes }) };
  });

/** A service's `volumes:` list. */
export const serviceVolumes = z.array(z.union([shortMount, longMount], { error: expect('a "SOURCE:TARGET[:ro]" string or a mapping with type, source and target') }), { error: expect('a list') });

/** A top-level named volume: only the local driver (the node's own volume). */
export interface VolumeDecl {
  external: boolean;
  /** Its name on the node: `name:`, or the key for an external one. */
  name?: string;
}

export const volumeSchema = z.union(
  [
    z.null().transform((): VolumeDecl => ({ external: false })),
    z
      .looseObject(
        {
          driver: convert(str, (d): Conv<'local'> => (d === 'local' ? ok(d) : fail(`only the local driver is supported, got ${describe(d)}`))).optional(),
          external: bool.optional(),
          name: convert(str, (n): Conv<string> => (VOLUME_NAME.test(n) ? ok(n) : fail(`invalid volume name ${describe(n)}`))).optional(),
        },
        { error: expect('null or a mapping') },
      )
      .transform((v): VolumeDecl => ({ external: v.external ?? false, ...(v.name !== undefined && { name: v.name }) })),
  ],
  { error: expect('null or a mapping') },
);

/**
 * A service's mounts with named volumes resolved to their names on the node; problems for
 * undeclared volumes and for two mounts on one target.
 */
export function resolveMounts(entries: readonly MountEntry[], opts: { base: readonly PathSeg[]; declared: ReadonlyMap<string, VolumeDecl> | undefined; stackName: string | undefined }): { mounts: MountSpec[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  const mounts = entries.map((e, i): MountSpec => {
    const at = [...opts.base, 'volumes', i];
    const first = seen.get(e.target);
    if (first !== undefined) problems.push(problemAt(at, `target ${e.target} is already mounted by volumes[${first}]`));
    seen.set(e.target, i);
    if (e.type !== 'volume' || e.source === undefined) return e;
    const decl = opts.declared?.get(e.source);
    if (opts.declared !== undefined && !decl) problems.push(problemAt(at, `volume ${describe(e.source)} is not declared in the top-level volumes`));
    const name = decl?.name ?? (decl?.external ? e.source : `${opts.stackName ?? 'stack'}_${e.source}`);
    return { ...e, source: name };
  });
  return { mounts, problems };
}
