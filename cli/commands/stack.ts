import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { SUBJECTS } from '../../core/names.js';
import { request, rpcTimeoutMs } from '../../core/rpc.js';
import { ValidationError } from '../../core/errors.js';
import { parseStack } from '../../manager/stack/parse.js';
import type { DeployResult } from '../../manager/deploy/deployer.js';
import { snapshot, type ClusterSnapshot } from '../cluster-view.js';
import { runsCurrentSpec, type ResourceReservations, type TaskStatus } from '../../core/model.js';
import { fits, NOTHING_RESERVED, reservedByNode, satisfies } from '../../core/placement.js';
import { jsonLines, table } from '../format.js';
import type { CommandContext } from './context.js';
import { formatOf, printTasks } from './service.js';
import { serviceRow } from './service-views.js';
import { updateProgress } from './update-progress.js';
import { registryLogins } from '../registry-logins.js';
import { qualifyImage, registryOf } from '../../worker/engine/podman-argv.js';

const MAX_FILE_BYTES = 1024 * 1024;

function stackArg(positionals: string[], verb: string): string {
  if (positionals.length !== 1) throw new ValidationError([`stack ${verb}: exactly one STACK argument is required`]);
  return positionals[0]!;
}

export async function stackDeploy(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { 'compose-file': { type: 'string', short: 'c' }, detach: { type: 'boolean', short: 'd' }, timeout: { type: 'string' }, 'with-registry-auth': { type: 'boolean' }, 'resolve-image': { type: 'string' } },
    allowPositionals: true,
  });
  const stack = stackArg(positionals, 'deploy');
  const file = values['compose-file'];
  if (!file) throw new ValidationError(['stack deploy: -c/--compose-file FILE is required']);
  const timeoutS = values.timeout === undefined ? 120 : Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new ValidationError([`--timeout: must be a number of seconds > 0, got ${JSON.stringify(values.timeout)}`]);
  let text: string;
  try {
    const st = await stat(file);
    if (st.size > MAX_FILE_BYTES) throw new ValidationError([`${file}: file is ${st.size} bytes; the limit is ${MAX_FILE_BYTES}`]);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw new ValidationError([`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  // Validate here first for a fast answer; the manager validates again before changing anything.
  const resolveImage = values['resolve-image'];
  if (resolveImage !== undefined && resolveImage !== 'always' && resolveImage !== 'changed' && resolveImage !== 'never') {
    throw new ValidationError([`--resolve-image: must be always, changed or never, got ${JSON.stringify(resolveImage)}`]);
  }
  const { spec } = parseStack(text, { file, stackName: stack });
  const registryAuth = values['with-registry-auth'] ? await loginsFor(ctx, Object.values(spec.services)) : undefined;
  const before = values.detach ? undefined : await snapshot(ctx.buckets);
  const res = await request<DeployResult>(ctx.nc, SUBJECTS.api('stack.deploy'), { stack, file, text, ...(registryAuth && { registryAuth }), ...(resolveImage && { resolveImage }) }, 2 * rpcTimeoutMs());
  for (const w of res.warnings) ctx.err(`${w}\n`);
  for (const n of res.networksCreated) ctx.out(`Creating network ${n}\n`);
  for (const s of res.created) ctx.out(`Creating service ${s}\n`);
  for (const s of res.updated) ctx.out(`Updating service ${s}\n`);
  for (const s of res.removed) ctx.out(`Removing service ${s}\n`);
  for (const n of res.networksRemoved) ctx.out(`Removing network ${n}\n`);
  if (!before) return 0;
  return waitConverged(ctx, { stack, timeoutMs: timeoutS * 1000, before });
}

/** `--with-registry-auth`: the caller's logins for the registries the stack's images come from. */
async function loginsFor(ctx: CommandContext, services: readonly { image?: string }[]): Promise<Record<string, string>> {
  const registries = services.flatMap((s) => (s.image === undefined ? [] : [registryOf(qualifyImage(s.image))]));
  const logins = await registryLogins(registries);
  for (const w of logins.warnings) ctx.err(`warning: ${w}\n`);
  for (const r of logins.missing) ctx.err(`warning: --with-registry-auth: no login for registry ${r} (podman login / docker login); its images are pulled without one\n`);
  return logins.auths;
}

/**
 * Shows per-service progress until every task of the stack runs, one fails, or time runs out.
 * A pull error stops the wait only when it comes from an attempt made after the deploy: from a
 * task new since `before`, or the second error a task reports since then (the first may be from
 * an attempt already under way with the logins the deploy replaced).
 */
async function waitConverged(ctx: CommandContext, opts: { stack: string; timeoutMs: number; before: ClusterSnapshot }): Promise<number> {
  const { stack, timeoutMs, before } = opts;
  const deadline = Date.now() + timeoutMs;
  const shown = new Map<string, string>();
  const errorReports = new Map<string, Set<number>>();
  for (;;) {
    const snap = await snapshot(ctx.buckets);
    for (const [taskId, st] of snap.statuses) {
      const revision = snap.statusRevisions.get(taskId) ?? 0;
      if (st.error === undefined || revision <= (before.statusRevisions.get(taskId) ?? 0)) continue;
      errorReports.set(taskId, (errorReports.get(taskId) ?? new Set()).add(revision));
    }
    const definitive = (st: TaskStatus) => (errorReports.get(st.taskId)?.size ?? 0) >= (before.statuses.has(st.taskId) ? 2 : 1);
    const progress = stackProgress(snap, stack, { isStuck: definitive, before });
    for (const p of progress) {
      // While an update runs, "N/M running" would count only the new version's tasks.
      const line = p.busy ? `${p.name}: ${p.update}` : `${p.name}: ${p.running}/${p.desired} running${p.update ? `, ${p.update}` : ''}${p.problem ? ` (${p.problem})` : ''}`;
      if (shown.get(p.name) !== line) ctx.out(`${line}\n`);
      shown.set(p.name, line);
    }
    const failed = progress.filter((p) => p.failed);
    if (failed.length) {
      ctx.err(`stack ${stack}: ${failed.map((f) => `${f.name}: ${f.problem}`).join('; ')}\n`);
      return 1;
    }
    if (progress.every((p) => p.running === p.desired && !p.busy)) {
      ctx.out(`stack ${stack}: every task is running\n`);
      return 0;
    }
    if (Date.now() > deadline) {
      ctx.err(`stack ${stack}: not converged after ${timeoutMs / 1000} s; see 'meshctl stack ps ${stack}'\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

interface ServiceProgress {
  name: string;
  running: number;
  desired: number;
  failed: boolean;
  problem?: string;
  /** Its update's progress (`updating (2/4 updated)`), when the deploy started one. */
  update?: string;
  /** An update is under way: the service has not converged yet. */
  busy: boolean;
}

/**
 * Each service's progress. `isStuck`: whether a status's error ends the wait (default: any error).
 * While an update of the service is under way, its update status decides (a failed new task may
 * be what its failure_action rolls back).
 */
export function stackProgress(snap: ClusterSnapshot, stack: string, opts: { isStuck?: (st: TaskStatus) => boolean; before?: ClusterSnapshot } = {}): ServiceProgress[] {
  const isStuck = opts.isStuck ?? ((st: TaskStatus) => st.error !== undefined);
  const reserved = reservedByNode(snap.tasks, new Map(snap.services.map((s) => [s.id, s])));
  return snap.services
    .filter((s) => s.stack === stack)
    .map((s) => {
      const [running, desired] = serviceRow(snap, s).Replicas!.split('/').map(Number) as [number, number];
      const current = snap.tasks.filter((t) => t.serviceId === s.id && t.desiredState === 'running' && runsCurrentSpec(s, t));
      const statuses = current.map((t) => snap.statuses.get(t.id));
      const bad = statuses.find((st) => st && (st.state === 'failed' || st.state === 'rejected'));
      // A node retrying a pull keeps the task; the deploy still stops waiting and says why.
      const stuck = statuses.find((st) => st?.error !== undefined && isStuck(st));
      const ready = snap.nodes.filter((n) => n.status === 'ready' && n.runsTasks && satisfies(n, s.spec.constraints));
      const noNode =
        desired <= running ? undefined
        : ready.length === 0 ? 'no suitable node: placement constraints match no ready node'
        : s.spec.image !== undefined && !ready.some((n) => n.containerEngine !== undefined) ? 'no suitable node: no ready node has a container engine (podman) to run the image'
        : !ready.some((n) => fits(n, reserved.get(n.id) ?? NOTHING_RESERVED, s.spec.reservations)) ? `no suitable node: insufficient resources on ${ready.length} node${ready.length === 1 ? '' : 's'} (each task reserves ${describeReservations(s.spec.reservations)})`
        : undefined;
      const up = updateProgress(snap, s, { ...(opts.before && { before: opts.before }) });
      const line = up.line === undefined ? {} : { update: up.line };
      if (up.busy || up.failure) return { name: s.name, running, desired, failed: Boolean(up.failure), busy: up.busy, ...line, ...(up.failure && { problem: up.failure }) };
      const problem = bad ? `task ${bad.state}: ${bad.message}` : stuck ? `task ${stuck.state}: ${stuck.error}` : noNode;
      return { name: s.name, running, desired, failed: Boolean(bad ?? stuck), problem, busy: false, ...line };
    });
}

export async function stackRm(ctx: CommandContext, args: string[]): Promise<number> {
  if (args.length === 0) throw new ValidationError(['stack rm: STACK argument is required']);
  for (const stack of args) {
    const res = await request<{ removed: string[]; networksRemoved: string[] }>(ctx.nc, SUBJECTS.api('stack.rm'), { stack });
    for (const s of res.removed) ctx.out(`Removing service ${s}\n`);
    for (const n of res.networksRemoved) ctx.out(`Removing network ${n}\n`);
  }
  return 0;
}

export async function stackLs(ctx: CommandContext, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { format: { type: 'string' } } });
  const snap = await snapshot(ctx.buckets);
  const stacks = new Map<string, number>();
  for (const s of snap.services) stacks.set(s.stack, (stacks.get(s.stack) ?? 0) + 1);
  const rows = [...stacks].sort(([a], [b]) => a.localeCompare(b)).map(([Name, n]) => ({ Name, Services: String(n), Orchestrator: 'Swarm' }));
  if (formatOf(values.format) === 'json') ctx.out(jsonLines(rows));
  else ctx.out(table(['NAME', 'SERVICES'], rows.map((r) => [r.Name, r.Services])));
  return 0;
}

export async function stackServices(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { format: { type: 'string' } }, allowPositionals: true });
  const stack = stackArg(positionals, 'services');
  const snap = await snapshot(ctx.buckets);
  const rows = snap.services.filter((s) => s.stack === stack).map((s) => serviceRow(snap, s));
  if (rows.length === 0) throw new ValidationError([`Nothing found in stack: ${stack}`]);
  if (formatOf(values.format) === 'json') ctx.out(jsonLines(rows));
  else ctx.out(table(['ID', 'NAME', 'MODE', 'REPLICAS', 'PORTS'], rows.map((r) => [r.ID!, r.Name!, r.Mode!, r.Replicas!, r.Ports!])));
  return 0;
}

export async function stackPs(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { format: { type: 'string' } }, allowPositionals: true });
  const stack = stackArg(positionals, 'ps');
  const snap = await snapshot(ctx.buckets);
  const ids = new Set(snap.services.filter((s) => s.stack === stack).map((s) => s.id));
  if (ids.size === 0) throw new ValidationError([`Nothing found in stack: ${stack}`]);
  printTasks(ctx, snap, snap.tasks.filter((t) => ids.has(t.serviceId)), formatOf(values.format));
  return 0;
}

/** `cpus 2, memory 512 MiB` */
function describeReservations(r: ResourceReservations | undefined): string {
  const parts: string[] = [];
  if (r?.nanoCpus !== undefined) parts.push(`cpus ${r.nanoCpus / 1e9}`);
  if (r?.memoryBytes !== undefined) parts.push(`memory ${Math.round((r.memoryBytes / 1024 ** 2) * 10) / 10} MiB`);
  return parts.join(', ') || 'nothing';
}
