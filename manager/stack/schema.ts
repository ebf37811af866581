/**
 * Zod schemas for the supported compose subset. Objects are loose (unknown keys pass through; they are
 * reported as unsupported by unknown.ts); values are converted to the model's shapes where that needs
 * only the value itself. Checks across fields live in normalize.ts.
 */
import * as z from 'zod';
import { convert } from './convert.js';
import type { HealthTest, ServiceNetworkSpec } from '../../core/model.js';
import { parseConstraint } from './constraints.js';
import { parseSubnet } from './cidr.js';
import { type DurationRule, durationMs } from './duration.js';
import { type Conv, describe, expect, fail, ok } from './issues.js';
import { type PortEntry, parsePortString, parseShortPort } from './ports.js';
import { splitShellWords } from './shellwords.js';
import { parseUserSpec } from '../../core/task-user.js';
import { containerKeys, resources } from './container-keys.js';
import { serviceVolumes, volumeSchema } from './volumes.js';

/** Stack, service and network names. */
export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_-]*$/;
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ALIAS_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;


const str = z.string({ error: expect('a string') });
const bool = z.boolean({ error: expect('true or false') });
const mapping = <T extends z.core.$ZodLooseShape>(shape: T) => z.looseObject(shape, { error: expect('a mapping') });
const list = <T extends z.ZodType>(item: T) => z.array(item, { error: expect('a list') });

function intRange(min: number, max?: number) {
  const e = { error: expect(max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`) };
  const s = z.int(e).min(min, e);
  return max === undefined ? s : s.max(max, e);
}

const duration = (rule: DurationRule) =>
  convert(z.union([str, z.number()], { error: expect('a duration like "30s" or a whole number of seconds') }), (v) =>
    durationMs(v, rule),
  );

/** `command` / `entrypoint`: a shell-words string or a list of strings -> argv. */
const argv = z.union([convert(str, splitShellWords), list(str).min(1, { error: 'must not be empty' })], {
  error: expect('a string or a list of strings'),
});

/** `environment`: a mapping (null -> "") or a list of `KEY=VALUE` (a bare `KEY` -> ""). */
const envValue = z.union([str, z.number(), bool, z.null()], { error: expect('a string, number, boolean or null') });
const envMap = z.record(z.string(), envValue).transform((m, ctx) => {
  const entries: [string, string][] = [];
  for (const [key, value] of Object.entries(m)) {
    if (!ENV_NAME_PATTERN.test(key)) ctx.addIssue({ code: 'custom', message: badEnvName(key), input: key, path: [key] });
    entries.push([key, value === null ? '' : String(value)]);
  }
  return Object.fromEntries(entries);
});
const envList = list(str).transform((items, ctx) => {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const problem = !ENV_NAME_PATTERN.test(key) ? badEnvName(key) : seen.has(key) ? `${describe(key)} is also set by environment[${seen.get(key)}]` : undefined;
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: item, path: [i] });
    seen.set(key, seen.get(key) ?? i);
  });
  return Object.fromEntries([...seen.keys()].map((k) => [k, envValueOf(items[seen.get(k) ?? 0] ?? '')]));
});
const environment = z.union([envMap, envList], { error: expect('a mapping or a list of "KEY=VALUE" strings') });

function badEnvName(key: string): string {
  return `invalid variable name ${describe(key)}; must match ${ENV_NAME_PATTERN.source}`;
}
function envValueOf(item: string): string {
  const eq = item.indexOf('=');
  return eq < 0 ? '' : item.slice(eq + 1);
}

const portNumber = intRange(1, 65535);
const longPort = mapping({
  target: portNumber,
  published: z.union([portNumber, convert(str, parsePortString)], { error: expect('a port number from 1 to 65535') }).optional(),
  protocol: z.enum(['tcp', 'udp']).optional(),
  mode: z.enum(['ingress', 'host']).optional(),
  host_ip: z.unknown().optional(),
}).transform((p, ctx): PortEntry => {
  if (p.host_ip !== undefined) ctx.addIssue({ code: 'custom', message: 'binding to a host IP is not supported', input: p.host_ip, path: ['host_ip'] });
  const mode = p.mode ?? 'ingress';
  if (mode === 'host' && p.published === undefined) {
    ctx.addIssue({ code: 'custom', message: 'required when mode is host', input: undefined, path: ['published'] });
  }
  const entry: PortEntry = { protocol: p.protocol ?? 'tcp', mode, target: p.target, count: 1 };
  if (p.published !== undefined) entry.published = p.published;
  return entry;
});
const portEntry = z.union(
  [convert(str, parseShortPort), portNumber.transform((target): PortEntry => ({ protocol: 'tcp', mode: 'ingress', target, count: 1 })), longPort],
  { error: expect('a port like "8080:80" or a mapping with target, published, protocol and mode') },
);

/** A service's `networks`, with where each entry sits under `networks` (an index or a name). */
export interface NetworkRef {
  spec: ServiceNetworkSpec;
  at: string | number;
}
const alias = convert(str, (a): Conv<string> => (ALIAS_PATTERN.test(a) ? ok(a) : fail(`must be a DNS name matching ${ALIAS_PATTERN.source}, got ${describe(a)}`)));
const networkList = list(str).transform((names, ctx): NetworkRef[] => {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (seen.has(name)) ctx.addIssue({ code: 'custom', message: `${describe(name)} is listed twice`, input: name, path: [i] });
    seen.add(name);
  });
  return names.map((name, i) => ({ spec: { name, aliases: [] }, at: i }));
});
const networkMap = z
  .record(z.string(), z.union([z.null(), mapping({ aliases: list(alias).optional() })], { error: expect('null or a mapping with aliases') }))
  .transform((m): NetworkRef[] => Object.entries(m).map(([name, v]) => ({ spec: { name, aliases: v?.aliases ?? [] }, at: name })));
const serviceNetworks = z.union([networkList, networkMap], { error: expect('a list of network names or a mapping') });

function healthTest(v: string | string[]): Conv<HealthTest> {
  if (typeof v === 'string') return v.trim() === '' ? fail('must not be empty') : ok({ type: 'shell', script: v });
  const [kind, ...rest] = v;
  if (kind === 'NONE') return rest.length === 0 ? ok({ type: 'none' }) : fail('["NONE"] takes no other entries');
  if (kind === 'CMD') return rest.length > 0 ? ok({ type: 'cmd', argv: rest }) : fail('["CMD", ...] needs a command after "CMD"');
  if (kind === 'CMD-SHELL') {
    return rest.length === 1 && rest[0]?.trim() ? ok({ type: 'shell', script: rest[0] }) : fail('["CMD-SHELL", ...] needs exactly one non-empty script');
  }
  return fail(`must start with "CMD", "CMD-SHELL" or "NONE", got ${describe(kind)}`);
}

const healthcheck = mapping({
  test: convert(z.union([str, list(str).min(1, { error: 'must not be empty' })], { error: expect('a string or a list of strings') }), healthTest).optional(),
  interval: duration({ allowZero: false }).optional(),
  timeout: duration({ allowZero: false }).optional(),
  retries: intRange(1).optional(),
  start_period: duration({ allowZero: true }).optional(),
  disable: bool.optional(),
}).transform((h, ctx) => {
  if (h.disable === true && h.test !== undefined) {
    ctx.addIssue({ code: 'custom', message: 'cannot be combined with test', input: true, path: ['disable'] });
  } else if (h.disable !== true && h.test === undefined) {
    ctx.addIssue({ code: 'custom', message: 'required (or disable: true)', input: undefined, path: ['test'] });
  }
  const test: HealthTest = h.disable === true || h.test === undefined ? { type: 'none' } : h.test;
  return { test, intervalMs: h.interval ?? 30_000, timeoutMs: h.timeout ?? 30_000, retries: h.retries ?? 3, startPeriodMs: h.start_period ?? 0 };
});

const ratio = z.number({ error: expect('a number from 0 to 1') }).min(0, { error: expect('a number from 0 to 1') }).max(1, { error: expect('a number from 0 to 1') });
/** `update_config` and `rollback_config` (a rollback cannot fail over to another rollback). */
const updateConfig = (actions: readonly [string, ...string[]]) =>
  mapping({
    parallelism: intRange(0).optional(),
    delay: duration({ allowZero: true }).optional(),
    order: z.enum(['stop-first', 'start-first'], { error: expect('"stop-first" or "start-first"') }).optional(),
    failure_action: z.enum(actions, { error: expect(actions.map((a) => `"${a}"`).join(', ')) }).optional(),
    monitor: duration({ allowZero: true }).optional(),
    max_failure_ratio: ratio.optional(),
  });

const deploy = mapping({
  mode: z.enum(['replicated', 'global']).optional(),
  replicas: intRange(0).optional(),
  endpoint_mode: z.enum(['vip', 'dnsrr']).optional(),
  placement: mapping({ constraints: list(convert(str, parseConstraint)).optional() }).optional(),
  restart_policy: mapping({
    condition: z.enum(['none', 'on-failure', 'any']).optional(),
    delay: duration({ allowZero: true }).optional(),
    max_attempts: intRange(0).optional(),
  }).optional(),
  resources: resources.optional(),
  update_config: updateConfig(['pause', 'continue', 'rollback']).optional(),
  rollback_config: updateConfig(['pause', 'continue']).optional(),
});

/** `user:` as compose writes it: a string, or a bare number (a uid). */
const user = convert(z.union([str, z.int()], { error: expect('a string like "1000", "1000:1000", "name" or "name:group", or a number') }), (v) => {
  const r = parseUserSpec(String(v));
  return r.ok ? ok(String(v)) : fail(r.message);
});

export const serviceSchema = mapping({
  image: str.optional(),
  command: argv.optional(),
  entrypoint: argv.optional(),
  environment: environment.optional(),
  deploy: deploy.optional(),
  ports: list(portEntry).optional(),
  networks: serviceNetworks.optional(),
  healthcheck: healthcheck.optional(),
  user: user.optional(),
  stop_grace_period: duration({ allowZero: true }).optional(),
  volumes: serviceVolumes.optional(),
  ...containerKeys,
});
export type ParsedService = z.output<typeof serviceSchema>;

/** `external: true` (or the old `external: {name: ...}`) names a network meshd did not create. */
const external = z.unknown().transform((v, ctx) => {
  if (v === false || v === undefined) return false;
  const message = v === true || (typeof v === 'object' && v !== null && !Array.isArray(v)) ? 'external networks are not supported' : expect('true or false')({ input: v });
  ctx.addIssue({ code: 'custom', message, input: v });
  return z.NEVER;
}).optional();
const ipam = mapping({
  config: list(mapping({ subnet: convert(str, parseSubnet).optional() })).transform((entries, ctx) => {
    if (entries.length > 1) ctx.addIssue({ code: 'custom', message: `only one entry is supported, got ${entries.length}`, input: entries });
    return entries;
  }).optional(),
});
const driver = convert(str, (d): Conv<'overlay'> => (d === 'overlay' ? ok(d) : fail(`only the overlay driver is supported, got ${describe(d)}`)));

export const networkSchema = z.union(
  [z.null(), mapping({ driver: driver.optional(), attachable: bool.optional(), internal: bool.optional(), external, ipam: ipam.optional() })],
  { error: expect('null or a mapping') },
);
export type ParsedNetwork = z.output<typeof networkSchema>;

const namedMap = (what: string) => z.record(z.string(), z.unknown(), { error: expect(`a mapping of ${what}`) });

/** Top level `services:` (required, at least one). Each service is then checked on its own. */
export const servicesSectionSchema = namedMap('service names to services').refine((m) => Object.keys(m).length > 0, {
  error: 'must define at least one service',
});
/** Top level `volumes:` (optional): named local volumes, each checked on its own. */
export const volumesSectionSchema = namedMap('volume names to volumes').optional();
export { volumeSchema };
/** Top level `networks:` (optional). Each network is then checked on its own. */
export const networksSectionSchema = namedMap('network names to networks').optional();
