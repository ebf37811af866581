/**
 * The stack file parser: compose-format YAML -> a validated, normalised StackSpec.
 * Every problem found is collected and thrown together as one ValidationError; no spec is produced
 * while any problem remains. Warnings (ignored options, unused fields) come back beside the spec.
 */
import { LineCounter, parseDocument } from 'yaml';
import { ValidationError } from '../../core/errors.js';
import type { NetworkSpec, ServiceSpec, StackSpec } from '../../core/model.js';
import { type Problem, describe, errorMap, problemAt, renderProblem, zodProblems } from './issues.js';
import {
  DEFAULT_NETWORK,
  type NormalizedNetwork,
  type NormalizedService,
  checkObjectName,
  checkStackName,
  defaultNetwork,
  findSubnetOverlaps,
  normalizeNetwork,
  normalizeService,
  type ServiceContext,
} from './normalize.js';
import { MAX_STACK_PORTS, expandPortEntry, findPortConflicts } from './ports.js';
import { networkSchema, networksSectionSchema, serviceSchema, servicesSectionSchema, volumeSchema, volumesSectionSchema } from './schema.js';
import type { VolumeDecl } from './volumes.js';
import { inventoryKeys } from './unknown.js';

export const MAX_FILE_BYTES = 1024 * 1024;
/** Alias expansions allowed while building the JS value (YAML "billion laughs" guard). */
export const MAX_ALIAS_COUNT = 100;
/** YAML errors shown before the rest are summarised. */
const MAX_YAML_ERRORS = 10;

export interface ParseStackOptions {
  /** How the file is named in problems (`stack.yml`). */
  file: string;
  stackName: string;
}

export interface ParsedStack {
  spec: StackSpec;
  warnings: string[];
}

export function parseStack(text: string, opts: ParseStackOptions): ParsedStack {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const stackProblems = checkStackName(opts.stackName);
  problems.push(...stackProblems);
  const root = loadYaml(text, problems, warnings);
  let spec: StackSpec | undefined;
  if (root !== undefined) {
    spec = buildSpec(root, { stackName: stackProblems.length === 0 ? opts.stackName : undefined, problems, warnings });
  }
  if (problems.length > 0 || spec === undefined) {
    throw new ValidationError(problems.map((p) => renderProblem(opts.file, p)));
  }
  return { spec, warnings };
}

/** The document as plain JS, or undefined when it cannot be read (problems say why). */
function loadYaml(text: string, problems: Problem[], warnings: string[]): Record<string, unknown> | undefined {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_FILE_BYTES) {
    problems.push({ at: null, message: `file is ${bytes} bytes; the limit is ${MAX_FILE_BYTES}` });
    return undefined;
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, merge: true, prettyErrors: false, lineCounter, logLevel: 'error' });
  const where = (offset: number | undefined): string => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return `line ${line}, column ${col}`;
  };
  for (const e of doc.errors.slice(0, MAX_YAML_ERRORS)) {
    const message = e.code === 'MULTIPLE_DOCS' ? 'a stack file holds exactly one YAML document' : e.message;
    problems.push({ at: where(e.pos[0]), message });
  }
  if (doc.errors.length > MAX_YAML_ERRORS) {
    problems.push({ at: null, message: `${doc.errors.length - MAX_YAML_ERRORS} more YAML errors not shown` });
  }
  for (const w of doc.warnings) warnings.push(`${where(w.pos[0])}: ${w.message}`);
  if (doc.errors.length > 0) return undefined;
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // The yaml library throws for unresolved or excessive aliases; both are problems of the input.
    problems.push({ at: null, message: `cannot read the YAML: ${err instanceof Error ? err.message : String(err)}` });
    return undefined;
  }
  if (value === null || value === undefined) {
    problems.push({ at: null, message: 'file is empty' });
    return undefined;
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push({ at: null, message: `the top level must be a mapping, got ${describe(value)}` });
    return undefined;
  }
  return value as Record<string, unknown>;
}

interface BuildContext {
  /** The stack name, or undefined when it is invalid itself. */
  stackName: string | undefined;
  problems: Problem[];
  warnings: string[];
}

function buildSpec(root: Record<string, unknown>, ctx: BuildContext): StackSpec | undefined {
  const keys = inventoryKeys(root);
  ctx.problems.push(...keys.problems);
  if (keys.unsupported.length > 0) ctx.warnings.push(`Ignoring unsupported options: ${keys.unsupported.join(', ')}`);
  const servicesSection = section(servicesSectionSchema, root.services, 'services', ctx);
  // Networks are read first (services refer to them) but reported after services, as files order them.
  const netProblems: Problem[] = [];
  const networkSection = section(networksSectionSchema, root.networks, 'networks', { ...ctx, problems: netProblems });
  const networks = buildNetworks(networkSection ?? {}, { ...ctx, problems: netProblems });
  const declared = networkSection === undefined ? undefined : new Set(Object.keys(networkSection));
  const volProblems: Problem[] = [];
  const volumes = buildVolumes(root.volumes, { ...ctx, problems: volProblems });
  const services = buildServices(servicesSection ?? {}, { declaredNetworks: declared, declaredVolumes: volumes, stackName: ctx.stackName }, ctx);
  ctx.problems.push(...netProblems, ...volProblems);
  if (ctx.problems.length > 0) return undefined;
  const networkSpecs: [string, NetworkSpec][] = networks.map((n) => [n.spec.name, n.spec]);
  const usesDefault = services.some((s) => s.networks.some((n) => n.name === DEFAULT_NETWORK));
  if (usesDefault && !networks.some((n) => n.spec.name === DEFAULT_NETWORK)) networkSpecs.push([DEFAULT_NETWORK, defaultNetwork()]);
  return {
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    networks: Object.fromEntries(networkSpecs),
  };
}

/** One top-level section as a name -> raw value mapping, or undefined (with problems) when it is not one. */
function section(
  schema: typeof servicesSectionSchema | typeof networksSectionSchema,
  value: unknown,
  key: string,
  ctx: BuildContext,
): Record<string, unknown> | undefined {
  const parsed = schema.safeParse(value, { error: errorMap });
  if (parsed.success) return parsed.data ?? {};
  ctx.problems.push(...zodProblems(parsed.error.issues, [key]));
  return undefined;
}

function buildNetworks(raw: Record<string, unknown>, ctx: BuildContext): NormalizedNetwork[] {
  const out: NormalizedNetwork[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const path = ['networks', name];
    ctx.problems.push(...checkObjectName(path, name, ctx.stackName));
    const parsed = networkSchema.safeParse(value, { error: errorMap });
    if (parsed.success) out.push(normalizeNetwork(name, parsed.data));
    else ctx.problems.push(...zodProblems(parsed.error.issues, path));
  }
  ctx.problems.push(...findSubnetOverlaps(out));
  return out;
}

/** Top-level named volumes; undefined when the section cannot be read (problems say why). */
function buildVolumes(value: unknown, ctx: BuildContext): Map<string, VolumeDecl> | undefined {
  const raw = section(volumesSectionSchema, value, 'volumes', ctx);
  if (raw === undefined) return undefined;
  const out = new Map<string, VolumeDecl>();
  for (const [name, v] of Object.entries(raw)) {
    const path = ['volumes', name];
    ctx.problems.push(...checkObjectName(path, name, ctx.stackName));
    const parsed = volumeSchema.safeParse(v, { error: errorMap });
    if (parsed.success) out.set(name, parsed.data);
    else ctx.problems.push(...zodProblems(parsed.error.issues, path));
  }
  return out;
}

function buildServices(raw: Record<string, unknown>, serviceCtx: ServiceContext, ctx: BuildContext): ServiceSpec[] {
  const services: NormalizedService[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const path = ['services', name];
    ctx.problems.push(...checkObjectName(path, name, ctx.stackName));
    const parsed = serviceSchema.safeParse(value, { error: errorMap });
    if (!parsed.success) {
      ctx.problems.push(...zodProblems(parsed.error.issues, path));
      continue;
    }
    const normalized = normalizeService(name, parsed.data, serviceCtx);
    ctx.problems.push(...normalized.problems);
    ctx.warnings.push(...normalized.warnings);
    services.push(normalized);
  }
  const entries = services.flatMap((s) => s.ports);
  const total = entries.reduce((sum, p) => sum + p.entry.count, 0);
  if (total > MAX_STACK_PORTS) {
    ctx.problems.push(problemAt(['services'], `the stack publishes ${total} ports; the limit is ${MAX_STACK_PORTS}`));
  } else {
    ctx.problems.push(...findPortConflicts(entries));
    for (const s of services) s.spec.ports = s.ports.flatMap((p) => expandPortEntry(p.entry));
  }
  return services.map((s) => s.spec);
}
