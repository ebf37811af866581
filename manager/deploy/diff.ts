import type { NetworkRecord, NetworkSpec, ServiceRecord, ServiceSpec, StackSpec } from '../../core/model.js';
import { ValidationError } from '../../core/errors.js';

export interface NetworkCreate {
  fullName: string;
  spec: NetworkSpec;
}

export interface ServiceUpdate {
  record: ServiceRecord;
  spec: ServiceSpec;
  /** True when tasks must be replaced (anything but the replica count or the update/rollback config changed). */
  bump: boolean;
  /** A rollback to the previous spec, and why (`manually requested rollback`, or the failed task). */
  rollback?: string;
}

/** What a (re)deploy changes: computed from state and the parsed file, before anything is written. */
export interface StackPlan {
  stack: string;
  networks: { create: NetworkCreate[]; keep: NetworkRecord[]; remove: NetworkRecord[] };
  services: { create: ServiceSpec[]; update: ServiceUpdate[]; unchanged: ServiceRecord[]; remove: ServiceRecord[] };
}

export function fullName(stack: string, name: string): string {
  return `${stack}_${name}`;
}

/** Stable JSON: object keys sorted, so equal specs compare equal whatever their key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** What makes new tasks: everything but the replica count and how updates and rollbacks are paced. */
export function taskShaping(spec: ServiceSpec): Omit<ServiceSpec, 'replicas' | 'updateConfig' | 'rollbackConfig'> {
  const { replicas: _r, updateConfig: _u, rollbackConfig: _b, ...rest } = spec;
  return rest;
}

export function diffStack(opts: {
  stack: string;
  file: string;
  spec: StackSpec;
  networks: readonly NetworkRecord[];
  services: readonly ServiceRecord[];
}): StackPlan {
  const { stack, file, spec } = opts;
  const problems: string[] = [];
  const existingNets = new Map(opts.networks.filter((n) => n.stack === stack).map((n) => [n.name, n]));
  const plan: StackPlan = {
    stack,
    networks: { create: [], keep: [], remove: [] },
    services: { create: [], update: [], unchanged: [], remove: [] },
  };
  for (const [name, net] of Object.entries(spec.networks)) {
    const full = fullName(stack, name);
    const taken = opts.networks.find((n) => n.name === full && n.stack !== stack);
    if (taken) problems.push(`${file}: networks.${name}: network name ${full} is already used outside stack ${stack}`);
    const have = existingNets.get(full);
    if (!have) {
      plan.networks.create.push({ fullName: full, spec: net });
      continue;
    }
    const changed = [
      net.subnet !== undefined && net.subnet !== have.subnet ? `subnet (${have.subnet} -> ${net.subnet})` : '',
      net.internal !== have.internal ? `internal (${have.internal} -> ${net.internal})` : '',
      net.attachable !== have.attachable ? `attachable (${have.attachable} -> ${net.attachable})` : '',
    ].filter(Boolean);
    if (changed.length) {
      problems.push(`${file}: networks.${name}: cannot change ${changed.join(', ')} of existing network ${full}; remove the stack first`);
    }
    plan.networks.keep.push(have);
  }
  for (const [full, have] of existingNets) {
    if (!Object.keys(spec.networks).some((n) => fullName(stack, n) === full)) plan.networks.remove.push(have);
  }
  const existingSvcs = new Map(opts.services.filter((s) => s.stack === stack).map((s) => [s.name, s]));
  for (const [name, svc] of Object.entries(spec.services)) {
    const have = existingSvcs.get(fullName(stack, name));
    if (!have) plan.services.create.push(svc);
    else if (canonical(have.spec) === canonical(svc)) plan.services.unchanged.push(have);
    else plan.services.update.push({ record: have, spec: svc, bump: canonical(taskShaping(have.spec)) !== canonical(taskShaping(svc)) });
  }
  for (const [full, have] of existingSvcs) {
    if (!Object.keys(spec.services).some((n) => fullName(stack, n) === full)) plan.services.remove.push(have);
  }
  if (problems.length) throw new ValidationError(problems);
  return plan;
}
