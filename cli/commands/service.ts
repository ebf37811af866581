import { parseArgs } from 'node:util';
import { SUBJECTS } from '../../core/names.js';
import { request } from '../../core/rpc.js';
import { ValidationError } from '../../core/errors.js';
import type { ServiceRecord } from '../../core/model.js';
import { findOne, nodeName, snapshot } from '../cluster-view.js';
import { jsonLines, table } from '../format.js';
import type { TaskLog } from '../../worker/logs.js';
import type { CommandContext } from './context.js';
import { serviceInspect, serviceRow, taskRow } from './service-views.js';
import * as z from 'zod';
import * as W from '../../core/wire/schemas.js';

const formatOpt = { format: { type: 'string' as const } };

function formatOf(v: string | undefined): 'table' | 'json' {
  if (v === undefined || v === 'table') return 'table';
  if (v === 'json') return 'json';
  throw new ValidationError([`--format: must be table or json, got ${JSON.stringify(v)}`]);
}

export function findService(services: readonly ServiceRecord[], ref: string): ServiceRecord {
  return findOne(services, ref, (s) => [s.name], 'service');
}

export async function serviceLs(ctx: CommandContext, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: formatOpt });
  const snap = await snapshot(ctx.buckets);
  const rows = snap.services.map((s) => serviceRow(snap, s));
  if (formatOf(values.format) === 'json') ctx.out(jsonLines(rows));
  else ctx.out(table(['ID', 'NAME', 'MODE', 'REPLICAS', 'PORTS'], rows.map((r) => [r.ID!, r.Name!, r.Mode!, r.Replicas!, r.Ports!])));
  return 0;
}

export async function servicePs(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: formatOpt, allowPositionals: true });
  if (positionals.length === 0) throw new ValidationError(['service ps: SERVICE argument is required']);
  const snap = await snapshot(ctx.buckets);
  const ids = new Set(positionals.map((p) => findService(snap.services, p).id));
  printTasks(ctx, snap, snap.tasks.filter((t) => ids.has(t.serviceId)), formatOf(values.format));
  return 0;
}

/**
 * Tasks as Docker lists them: by service and slot (node, for global services), the task meant to
 * run first and under it the slot's history, newest first (`\_ name` in the table).
 */
export function printTasks(ctx: CommandContext, snap: Awaited<ReturnType<typeof snapshot>>, tasks: Parameters<typeof taskRow>[1][], format: 'table' | 'json'): void {
  const ordered = [...tasks].sort(
    (a, b) =>
      a.serviceName.localeCompare(b.serviceName) ||
      a.slot - b.slot ||
      (a.slot === 0 ? a.nodeId.localeCompare(b.nodeId) : 0) ||
      Number(b.desiredState === 'running') - Number(a.desiredState === 'running') ||
      b.createdAt.localeCompare(a.createdAt),
  );
  const rows = ordered.map((t) => taskRow(snap, t));
  if (format === 'json') ctx.out(jsonLines(rows));
  else {
    const history = (i: number) => i > 0 && ordered[i]!.desiredState !== 'running' && ordered[i]!.serviceId === ordered[i - 1]!.serviceId && ordered[i]!.slot === ordered[i - 1]!.slot && (ordered[i]!.slot > 0 || ordered[i]!.nodeId === ordered[i - 1]!.nodeId);
    ctx.out(table(['ID', 'NAME', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], rows.map((r, i) => [r.ID, history(i) ? ` \\_ ${String(r.Name)}` : r.Name, r.Node, r.DesiredState, r.CurrentState, r.Error].map(String))));
  }
}

export async function serviceInspectCmd(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...formatOpt, pretty: { type: 'boolean' } }, allowPositionals: true });
  if (positionals.length === 0) throw new ValidationError(['service inspect: SERVICE argument is required']);
  formatOf(values.format);
  const snap = await snapshot(ctx.buckets);
  ctx.out(JSON.stringify(positionals.map((p) => serviceInspect(snap, findService(snap.services, p))), null, 4) + '\n');
  return 0;
}

export async function serviceScale(ctx: CommandContext, args: string[]): Promise<number> {
  if (args.length === 0) throw new ValidationError(['service scale: expected SERVICE=REPLICAS']);
  const requests = args.map((a) => {
    const m = /^([^=]+)=(.*)$/.exec(a);
    const n = Number(m?.[2]);
    if (!m || m[2] === '' || !Number.isInteger(n) || n < 0) throw new ValidationError([`service scale: ${JSON.stringify(a)}: expected SERVICE=REPLICAS with REPLICAS an integer >= 0`]);
    return { service: m[1]!, replicas: n };
  });
  for (const r of requests) {
    const res = await request<{ name: string; replicas: number }>(ctx.nc, SUBJECTS.api('service.scale'), r);
    ctx.out(`${res.name} scaled to ${res.replicas}\n`);
  }
  return 0;
}

export async function serviceRm(ctx: CommandContext, args: string[]): Promise<number> {
  if (args.length === 0) throw new ValidationError(['service rm: SERVICE argument is required']);
  for (const service of args) ctx.out(`${await request<string>(ctx.nc, SUBJECTS.api('service.rm'), { service })}\n`);
  return 0;
}

export async function serviceLogs(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { tail: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new ValidationError(['service logs: exactly one SERVICE argument is required']);
  const tail = values.tail === undefined || values.tail === 'all' ? undefined : Number(values.tail);
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new ValidationError([`--tail: must be an integer >= 0 or "all", got ${JSON.stringify(values.tail)}`]);
  const snap = await snapshot(ctx.buckets);
  const svc = findService(snap.services, positionals[0]!);
  const tasks = snap.tasks.filter((t) => t.serviceId === svc.id);
  const byNode = new Map<string, string[]>();
  for (const t of tasks) byNode.set(t.nodeId, [...(byNode.get(t.nodeId) ?? []), t.id]);
  for (const [nodeId, taskIds] of byNode) {
    let logs: TaskLog[];
    try {
      // A worker answers this one: its reply is checked like any other input.
      logs = await request(ctx.nc, SUBJECTS.node(nodeId, 'logs'), { taskIds, tail }, { timeoutMs: 10_000, result: z.array(W.TaskLog).max(10_000) });
    } catch (err) {
      ctx.err(`logs from node ${nodeName(snap, nodeId)} unavailable: ${(err as Error).message}\n`);
      continue;
    }
    for (const l of logs) {
      const t = tasks.find((x) => x.id === l.taskId && x.nodeId === nodeId);
      if (!t) continue; // not a task we asked this node about
      const prefix = `${t.name}.${t.id.slice(0, 12)}@${nodeName(snap, nodeId)}`;
      for (const line of l.lines) ctx.out(`${prefix}    | ${line}\n`);
    }
  }
  return 0;
}

export { formatOf };
