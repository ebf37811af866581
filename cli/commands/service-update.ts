/**
 * `meshctl service update` and `service rollback`: Docker's flags, sent to a manager, then (unless
 * `--detach`) the update's progress until it completes, pauses or is rolled back.
 */
import { parseArgs } from 'node:util';
import { SUBJECTS } from '../../core/names.js';
import { request } from '../../core/rpc.js';
import { ValidationError } from '../../core/errors.js';
import type { UpdateConfig } from '../../core/model.js';
import type { ServiceUpdateRequest } from '../../manager/deploy/service-update.js';
import { durationMs } from '../../manager/stack/duration.js';
import { snapshot, type ClusterSnapshot } from '../cluster-view.js';
import type { CommandContext } from './context.js';
import { findService } from './service.js';
import { serviceRow } from './service-views.js';
import { updateProgress } from './update-progress.js';

const PACING_FLAGS = ['parallelism', 'delay', 'order', 'failure-action', 'monitor', 'max-failure-ratio'] as const;
const pacingOptions = (prefix: 'update' | 'rollback') => Object.fromEntries(PACING_FLAGS.map((f) => [`${prefix}-${f}`, { type: 'string' as const }]));

export async function serviceUpdate(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      image: { type: 'string' },
      'env-add': { type: 'string', multiple: true },
      'env-rm': { type: 'string', multiple: true },
      replicas: { type: 'string' },
      force: { type: 'boolean' },
      detach: { type: 'boolean', short: 'd' },
      timeout: { type: 'string' },
      ...pacingOptions('update'),
      ...pacingOptions('rollback'),
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new ValidationError(['service update: exactly one SERVICE argument is required']);
  const flags = values as Record<string, string | undefined>;
  const req: ServiceUpdateRequest = {
    service: positionals[0]!,
    ...(values.image !== undefined && { image: values.image }),
    ...(values['env-add'] && { envAdd: Object.fromEntries(values['env-add'].map(envPair)) }),
    ...(values['env-rm'] && { envRm: values['env-rm'] }),
    ...(values.replicas !== undefined && { replicas: wholeNumber('--replicas', values.replicas) }),
    ...(values.force && { force: true }),
    ...pacingRequest('update', flags),
    ...pacingRequest('rollback', flags),
  };
  const timeoutMs = timeoutOf(values.timeout);
  const before = values.detach ? undefined : await snapshot(ctx.buckets);
  const res = await request<{ name: string; version: number; changed: boolean }>(ctx.nc, SUBJECTS.api('service.update'), req);
  ctx.out(`${res.name}${res.changed ? '' : ' (nothing changed)'}\n`);
  if (!before || !res.changed) return 0;
  return watchUpdate(ctx, { service: res.name, before, timeoutMs, expectRollback: false });
}

export async function serviceRollback(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { detach: { type: 'boolean', short: 'd' }, timeout: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new ValidationError(['service rollback: exactly one SERVICE argument is required']);
  const timeoutMs = timeoutOf(values.timeout);
  const before = values.detach ? undefined : await snapshot(ctx.buckets);
  const res = await request<{ name: string; version: number }>(ctx.nc, SUBJECTS.api('service.rollback'), { service: positionals[0]! });
  ctx.out(`${res.name}\nrollback: manually requested rollback\n`);
  if (!before) return 0;
  return watchUpdate(ctx, { service: res.name, before, timeoutMs, expectRollback: true });
}

/** Prints the update's progress as it changes; 0 once it completed and every replica runs, 1 if it paused, was rolled back, or time ran out. */
async function watchUpdate(ctx: CommandContext, opts: { service: string; before: ClusterSnapshot; timeoutMs: number; expectRollback: boolean }): Promise<number> {
  const deadline = Date.now() + opts.timeoutMs;
  let shown = '';
  for (;;) {
    const snap = await snapshot(ctx.buckets);
    const s = findService(snap.services, opts.service);
    const up = updateProgress(snap, s, { before: opts.before, expectRollback: opts.expectRollback });
    const replicas = serviceRow(snap, s).Replicas!;
    const line = up.busy ? `${s.name}: ${up.line}` : `${s.name}: ${replicas} running${up.line ? `, ${up.line}` : ''}`;
    if (line !== shown) ctx.out(`${line}\n`);
    shown = line;
    if (up.failure) {
      ctx.err(`${s.name}: ${up.failure}\n`);
      return 1;
    }
    const [running, desired] = replicas.split('/').map(Number) as [number, number];
    if (!up.busy && running === desired) {
      ctx.out(`${s.name}: converged\n`);
      return 0;
    }
    if (Date.now() > deadline) {
      ctx.err(`${s.name}: not converged after ${opts.timeoutMs / 1000} s; see 'meshctl service ps ${s.name}' (the update goes on)\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** `--update-parallelism 2 --update-delay 5s ...` -> `{ updateConfig: { parallelism: 2, delayMs: 5000 } }`. */
function pacingRequest(prefix: 'update' | 'rollback', flags: Record<string, string | undefined>): Partial<Pick<ServiceUpdateRequest, 'updateConfig' | 'rollbackConfig'>> {
  const at = (f: (typeof PACING_FLAGS)[number]) => flags[`${prefix}-${f}`];
  const name = (f: string) => `--${prefix}-${f}`;
  const config: Partial<UpdateConfig> = {};
  const parallelism = at('parallelism');
  if (parallelism !== undefined) config.parallelism = wholeNumber(name('parallelism'), parallelism);
  for (const [flag, key] of [['delay', 'delayMs'], ['monitor', 'monitorMs']] as const) {
    const v = at(flag);
    if (v === undefined) continue;
    const ms = durationMs(v, { allowZero: true });
    if (!ms.ok) throw new ValidationError([`${name(flag)}: ${ms.message}`]);
    config[key] = ms.value;
  }
  const order = at('order');
  if (order !== undefined) {
    if (order !== 'stop-first' && order !== 'start-first') throw new ValidationError([`${name('order')}: must be stop-first or start-first, got ${JSON.stringify(order)}`]);
    config.order = order;
  }
  const action = at('failure-action');
  if (action !== undefined) {
    const allowed = prefix === 'update' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'];
    if (!allowed.includes(action)) throw new ValidationError([`${name('failure-action')}: must be ${allowed.join(', ')}, got ${JSON.stringify(action)}`]);
    config.failureAction = action as UpdateConfig['failureAction'];
  }
  const ratio = at('max-failure-ratio');
  if (ratio !== undefined) {
    const r = Number(ratio);
    if (ratio.trim() === '' || !Number.isFinite(r) || r < 0 || r > 1) throw new ValidationError([`${name('max-failure-ratio')}: must be a number from 0 to 1, got ${JSON.stringify(ratio)}`]);
    config.maxFailureRatio = r;
  }
  if (Object.keys(config).length === 0) return {};
  return prefix === 'update' ? { updateConfig: config } : { rollbackConfig: config };
}

function envPair(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ValidationError([`--env-add: expected KEY=VALUE, got ${JSON.stringify(text)}`]);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

function wholeNumber(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 0) throw new ValidationError([`${flag}: must be an integer >= 0, got ${JSON.stringify(text)}`]);
  return n;
}

function timeoutOf(text: string | undefined): number {
  if (text === undefined) return 600_000;
  const s = Number(text);
  if (!Number.isFinite(s) || s <= 0) throw new ValidationError([`--timeout: must be a number of seconds > 0, got ${JSON.stringify(text)}`]);
  return s * 1000;
}
