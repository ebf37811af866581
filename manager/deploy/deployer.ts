import type { Buckets } from '../../core/state/buckets.js';
import type { NetworkRecord, ServiceRecord, ServiceSpec } from '../../core/model.js';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.js';
import { ALLOC_KEYS } from '../../core/names.js';
import { encode } from '../../core/state/codec.js';
import { readAll, readValues } from '../../core/state/read.js';
import { RECORDS } from '../../core/wire/records.js';
import { newId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import { parseStack } from '../stack/parse.js';
import type { Allocator } from '../allocator.js';
import { ingressNetworkId, type ClusterConfig } from '../cluster-config.js';
import { diffStack, fullName, type StackPlan } from './diff.js';
import { UndoLog } from './txn.js';
import { releaseLbAddress } from '../lb-addresses.js';
import { allocateNetwork, allocatePorts, allocateVips, droppedAllocations, releaseNetwork, releaseService } from './resources.js';

export interface DeployRequest {
  stack: string;
  /** The file name as the user gave it, for messages. */
  file: string;
  text: string;
}

export interface DeployResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
  networksCreated: string[];
  networksRemoved: string[];
  warnings: string[];
}

export interface DeployerDeps {
  buckets: Buckets;
  allocator: Allocator;
  config: ClusterConfig;
  log: Logger;
}

/**
 * Applies a stack file: validate everything, allocate everything (undone on any failure), then
 * write. Nothing is written unless the whole deploy can succeed: no partial deploy.
 */
export class StackDeployer {
  constructor(private readonly deps: DeployerDeps) {}

  async deploy(req: DeployRequest): Promise<DeployResult> {
    const { spec, warnings } = parseStack(req.text, { file: req.file, stackName: req.stack });
    const networks = await readValues(this.deps.buckets.networks, RECORDS.networks);
    const services = await readValues(this.deps.buckets.services, RECORDS.services);
    const plan = diffStack({ stack: req.stack, file: req.file, spec, networks, services });
    await this.checkPorts(plan, req.file, services);
    const undo = new UndoLog();
    let staged: Staged;
    try {
      staged = await this.stage(plan, req.file, networks, undo);
    } catch (err) {
      await undo.rollback();
      throw err;
    }
    await this.commit(plan, staged);
    const result: DeployResult = {
      created: plan.services.create.map((s) => fullName(req.stack, s.name)),
      updated: plan.services.update.map((u) => u.record.name),
      unchanged: plan.services.unchanged.map((s) => s.name),
      removed: plan.services.remove.map((s) => s.name),
      networksCreated: staged.newNetworks.map((n) => n.name),
      networksRemoved: plan.networks.remove.map((n) => n.name),
      warnings,
    };
    this.deps.log.info('stack deployed', { stack: req.stack, ...summarise(result) });
    return result;
  }

  async removeStack(stack: string): Promise<{ removed: string[]; networksRemoved: string[] }> {
    const services = (await readValues(this.deps.buckets.services, RECORDS.services)).filter((s) => s.stack === stack);
    const networks = (await readValues(this.deps.buckets.networks, RECORDS.networks)).filter((n) => n.stack === stack);
    if (services.length === 0 && networks.length === 0) throw new NotFoundError(`Nothing found in stack: ${stack}`);
    for (const s of services) await this.removeServiceRecord(s);
    for (const n of networks) await this.removeNetworkRecord(n);
    this.deps.log.info('stack removed', { stack, services: services.length, networks: networks.length });
    return { removed: services.map((s) => s.name), networksRemoved: networks.map((n) => n.name) };
  }

  async removeService(ref: string): Promise<string> {
    const svc = await this.findService(ref);
    await this.removeServiceRecord(svc);
    return svc.name;
  }

  async scale(ref: string, replicas: number): Promise<{ name: string; replicas: number }> {
    if (!Number.isInteger(replicas) || replicas < 0) throw new ValidationError([`replicas: must be an integer >= 0, got ${JSON.stringify(replicas)}`]);
    for (let attempt = 0; attempt < 10; attempt++) {
      const all = await readAll(this.deps.buckets.services, RECORDS.services);
      const found = [...all.values()].find((e) => e.value.name === ref || e.value.id === ref || e.value.id.startsWith(ref));
      if (!found) throw new NotFoundError(`service ${ref} not found`);
      const svc = found.value;
      if (svc.spec.mode !== 'replicated') throw new ValidationError([`${svc.name}: scale can only be used with replicated mode`]);
      const next: ServiceRecord = { ...svc, spec: { ...svc.spec, replicas }, updatedAt: new Date().toISOString() };
      try {
        await this.deps.buckets.services.update(svc.id, encode(next), found.revision);
        return { name: svc.name, replicas };
      } catch {
        // lost a race with another writer; read again
      }
    }
    throw new ConflictError(`service ${ref} kept changing; try again`);
  }

  private async findService(ref: string): Promise<ServiceRecord> {
    const services = await readValues(this.deps.buckets.services, RECORDS.services);
    const svc = services.find((s) => s.name === ref || s.id === ref) ?? services.find((s) => s.id.startsWith(ref));
    if (!svc) throw new NotFoundError(`service ${ref} not found`);
    return svc;
  }

  private async removeServiceRecord(svc: ServiceRecord): Promise<void> {
    await this.deps.buckets.services.delete(svc.id);
    await releaseService(this.deps.allocator, svc);
  }

  private async removeNetworkRecord(net: NetworkRecord): Promise<void> {
    await this.deps.buckets.networks.delete(net.id);
    for (const { value } of (await readAll(this.deps.buckets.lbaddrs, RECORDS.lbaddrs, { filter: `${net.id}.>` })).values()) {
      await releaseLbAddress(this.deps.buckets.lbaddrs, this.deps.allocator, value);
    }
    await releaseNetwork(this.deps.allocator, net);
  }

  /** Refuses a published port held by a service outside this stack, naming both. */
  private async checkPorts(plan: StackPlan, file: string, services: readonly ServiceRecord[]): Promise<void> {
    const ownStack = new Set(services.filter((s) => s.stack === plan.stack).map((s) => s.id));
    const problems: string[] = [];
    const specs: ServiceSpec[] = [...plan.services.create, ...plan.services.update.map((u) => u.spec)];
    for (const spec of specs) {
      for (const [i, p] of spec.ports.entries()) {
        if (p.published === undefined) continue;
        const owner = await this.deps.allocator.ownerOf(ALLOC_KEYS.port(p.protocol, p.published));
        if (owner && !ownStack.has(owner)) {
          const holder = services.find((s) => s.id === owner)?.name ?? owner;
          problems.push(`${file}: services.${spec.name}.ports[${i}]: port ${p.published}/${p.protocol} is already published by service ${holder}`);
        }
      }
    }
    if (problems.length) throw new ConflictError(problems.join('\n'));
  }

  private async stage(plan: StackPlan, file: string, networks: readonly NetworkRecord[], undo: UndoLog): Promise<Staged> {
    const byLocal = new Map<string, NetworkRecord>();
    for (const n of plan.networks.keep) byLocal.set(n.name.slice(plan.stack.length + 1), n);
    const newNetworks: NetworkRecord[] = [];
    for (const c of plan.networks.create) {
      const local = c.fullName.slice(plan.stack.length + 1);
      try {
        const net = await allocateNetwork({ allocator: this.deps.allocator, config: this.deps.config, undo, stack: plan.stack, fullName: c.fullName, spec: c.spec });
        newNetworks.push(net);
        byLocal.set(local, net);
      } catch (err) {
        if (err instanceof ConflictError) throw new ConflictError(`${file}: networks.${local}.ipam.config[0].subnet: ${describeOwners(err.message, networks)}`);
        throw err;
      }
    }
    await this.freeMovedPorts(plan, undo);
    const ingress = networks.find((n) => n.id === ingressNetworkId(this.deps.config.id));
    const services: ServiceRecord[] = [];
    for (const spec of plan.services.create) services.push(await this.buildService({ plan, spec, byLocal, ingress, undo }));
    for (const u of plan.services.update) services.push(await this.buildService({ plan, spec: u.spec, existing: u.record, bump: u.bump, byLocal, ingress, undo }));
    return { newNetworks, services };
  }

  /** Ports that move between services of this stack are released first (undo re-claims them). */
  private async freeMovedPorts(plan: StackPlan, undo: UndoLog): Promise<void> {
    const olds = [...plan.services.remove, ...plan.services.update.map((u) => u.record)];
    for (const old of olds) {
      const next = plan.services.update.find((u) => u.record.id === old.id)?.spec;
      for (const p of old.endpoint.ports) {
        if (next?.ports.some((q) => q.protocol === p.protocol && (q.published ?? p.published) === p.published)) continue;
        const key = ALLOC_KEYS.port(p.protocol, p.published);
        await this.deps.allocator.release(key, old.id);
        undo.push(async () => void (await this.deps.allocator.claim(key, old.id)));
      }
    }
  }

  private async buildService(opts: {
    plan: StackPlan;
    spec: ServiceSpec;
    existing?: ServiceRecord;
    bump?: boolean;
    byLocal: Map<string, NetworkRecord>;
    ingress: NetworkRecord | undefined;
    undo: UndoLog;
  }): Promise<ServiceRecord> {
    const { spec, existing, undo } = opts;
    const { allocator } = this.deps;
    const id = existing?.id ?? newId();
    const nets = spec.networks.map((n) => {
      const net = opts.byLocal.get(n.name);
      if (!net) throw new ValidationError([`services.${spec.name}.networks: network ${n.name} is not defined`]);
      return { net, aliases: n.aliases };
    });
    if (opts.ingress && spec.ports.some((p) => p.mode === 'ingress')) nets.push({ net: opts.ingress, aliases: [] });
    let fwmark = existing?.fwmark;
    if (spec.endpointMode === 'vip' && fwmark === undefined) {
      const mark = await allocator.fwmark(id);
      undo.push(() => allocator.release(ALLOC_KEYS.fwmark(mark), id));
      fwmark = mark;
    }
    if (spec.endpointMode !== 'vip') fwmark = undefined;
    const vips = await allocateVips({ allocator, undo, serviceId: id, spec, networks: nets.map((n) => n.net), existing: existing?.endpoint.vips ?? [] });
    const ports = await allocatePorts({ allocator, undo, serviceId: id, ports: spec.ports, existing: existing?.endpoint.ports ?? [] });
    const now = new Date().toISOString();
    return {
      id,
      name: fullName(opts.plan.stack, spec.name),
      stack: opts.plan.stack,
      spec,
      networks: nets.map((n) => ({ networkId: n.net.id, aliases: n.aliases })),
      version: existing ? existing.version + (opts.bump ? 1 : 0) : 1,
      fwmark,
      endpoint: { vips, ports },
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
  }

  private async commit(plan: StackPlan, staged: Staged): Promise<void> {
    const { buckets, allocator } = this.deps;
    for (const n of staged.newNetworks) await buckets.networks.put(n.id, encode(n));
    for (const s of staged.services) {
      const before = plan.services.update.find((u) => u.record.id === s.id)?.record;
      await buckets.services.put(s.id, encode(s));
      if (before) {
        const dropped = droppedAllocations(before, s);
        await releaseService(allocator, before, { ...dropped, ports: dropped.ports.filter((p) => !s.endpoint.ports.some((q) => q.published === p.published && q.protocol === p.protocol)) });
      }
    }
    for (const s of plan.services.remove) await this.removeServiceRecord(s);
    for (const n of plan.networks.remove) await this.removeNetworkRecord(n);
  }
}

interface Staged {
  newNetworks: NetworkRecord[];
  services: ServiceRecord[];
}

function describeOwners(message: string, networks: readonly NetworkRecord[]): string {
  return networks.reduce((m, n) => m.replaceAll(`used by ${n.id}`, `used by network ${n.name}`), message);
}

function summarise(r: DeployResult): Record<string, number> {
  return { created: r.created.length, updated: r.updated.length, unchanged: r.unchanged.length, removed: r.removed.length };
}
