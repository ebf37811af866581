import type { Buckets } from '../../core/state/buckets.js';
import type { NetworkRecord, ServiceRecord, ServiceSpec } from '../../core/model.js';
import { applyServiceUpdate, type ServiceUpdateRequest } from './service-update.js';
import { ConflictError, MeshError, NotFoundError, ValidationError } from '../../core/errors.js';
import { ALLOC_KEYS } from '../../core/names.js';
import { encode } from '../../core/state/codec.js';
import { listKeys, readAll, readValues } from '../../core/state/read.js';
import { RECORDS } from '../../core/wire/records.js';
import { newId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import { parseStack } from '../stack/parse.js';
import type { Allocator } from '../allocator.js';
import { ingressNetworkId, type ClusterConfig } from '../cluster-config.js';
import { canonical, diffStack, fullName, taskShaping, type StackPlan } from './diff.js';
import { UndoLog } from './txn.js';
import { allocateNetwork, allocatePorts, allocateVips } from './resources.js';
import { StackLocks, type CommitJournal, type HeldLock, type LockTiming, readLockRecord } from './stack-lock.js';
import { applyJournal, removeNetworkRecord, removeServiceRecord } from './commit.js';
import { checkStackName } from '../stack/normalize.js';
import { imageRegistry, RegistryAuthStore } from '../registry-auth.js';

export interface DeployRequest {
  stack: string;
  /** The file name as the user gave it, for messages. */
  file: string;
  text: string;
  /** `--with-registry-auth`: the caller's logins for the registries the stack's images use. */
  registryAuth?: Record<string, string>;
  /** `--resolve-image`: `always` re-pulls at every task start; `changed`/`never` pull when missing (the default). */
  resolveImage?: 'always' | 'changed' | 'never';
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
  /** This manager's node id: names the holder of a stack lock. */
  nodeId: string;
  lockTiming?: Partial<LockTiming>;
}

/**
 * Applies a stack file: validate everything, allocate everything (undone on any failure), then
 * write. Nothing is written unless the whole deploy can succeed: no partial deploy.
 */
export class StackDeployer {
  private readonly locks: StackLocks;

  constructor(private readonly deps: DeployerDeps) {
    this.locks = new StackLocks(deps.buckets.control, { nodeId: deps.nodeId, log: deps.log, timing: deps.lockTiming });
  }

  /** Runs `fn` holding the stack's lock: one deploy or removal of a stack at a time, cluster-wide. */
  private locked<T>(stack: string, op: string, fn: (lock: HeldLock) => Promise<T>): Promise<T> {
    const bad = checkStackName(stack);
    if (bad.length) throw new ValidationError(bad.map((p) => `${p.at}: ${p.message}`));
    return this.locks.hold({ stack, op, recover: (j) => applyJournal(this.deps, j) }, fn);
  }

  /**
   * Leader, every purger sweep: a stack whose lock still holds a journal (its manager died or
   * lost NATS mid-commit) is completed now rather than at the stack's next change. Taking the lock
   * waits until it is stale, so a live deploy is never disturbed.
   */
  async completeInterruptedCommits(): Promise<void> {
    for (const key of await listKeys(this.deps.buckets.control, 'stack.*')) {
      const e = await this.deps.buckets.control.get(key);
      if (!e || e.operation !== 'PUT' || !readLockRecord(e.value).journal) continue;
      await this.locked(key.slice('stack.'.length), 'recover', async () => undefined);
    }
  }

  async deploy(req: DeployRequest): Promise<DeployResult> {
    const parsed = parseStack(req.text, { file: req.file, stackName: req.stack });
    return this.locked(req.stack, 'deploy', (lock) => this.deployLocked(req, parsed, lock));
  }

  private async deployLocked(req: DeployRequest, { spec, warnings }: ReturnType<typeof parseStack>, lock: HeldLock): Promise<DeployResult> {
    const networks = await readValues(this.deps.buckets.networks, RECORDS.networks);
    const services = await readValues(this.deps.buckets.services, RECORDS.services);
    const plan = withRecordOnlyUpdates(diffStack({ stack: req.stack, file: req.file, spec, networks, services }), req);
    await this.checkPorts(plan, req.file, services);
    const undo = new UndoLog();
    let staged: Staged;
    try {
      staged = await this.stage(plan, req.file, networks, undo, req);
      if (req.registryAuth) await this.storeRegistryAuth([...staged.services, ...plan.services.unchanged], req.registryAuth, undo);
      await lock.journal(journalOf(plan, staged));
    } catch (err) {
      await undo.rollback();
      throw err;
    }
    await this.commit(lock, journalOf(plan, staged));
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
    return this.locked(stack, 'rm', () => this.removeStackLocked(stack));
  }

  private async removeStackLocked(stack: string): Promise<{ removed: string[]; networksRemoved: string[] }> {
    const services = (await readValues(this.deps.buckets.services, RECORDS.services)).filter((s) => s.stack === stack);
    const networks = (await readValues(this.deps.buckets.networks, RECORDS.networks)).filter((n) => n.stack === stack);
    if (services.length === 0 && networks.length === 0) throw new NotFoundError(`Nothing found in stack: ${stack}`);
    for (const s of services) await removeServiceRecord(this.deps, s);
    for (const n of networks) await removeNetworkRecord(this.deps, n);
    this.deps.log.info('stack removed', { stack, services: services.length, networks: networks.length });
    return { removed: services.map((s) => s.name), networksRemoved: networks.map((n) => n.name) };
  }

  async removeService(ref: string): Promise<string> {
    const svc = await this.findService(ref);
    return this.locked(svc.stack, 'service rm', async () => {
      const again = await this.findService(svc.id);
      await removeServiceRecord(this.deps, again);
      return again.name;
    });
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

  /**
   * `service update`: the flags applied to the spec, written like a deploy of that one service
   * (new tasks, paced by its update_config, when anything but replicas or pacing changed, or with
   * `force`).
   */
  async updateService(req: ServiceUpdateRequest): Promise<{ name: string; version: number; changed: boolean }> {
    const svc = await this.findService(req.service);
    return this.locked(svc.stack, 'service update', async (lock) => {
      const again = await this.findService(svc.id);
      const spec = applyServiceUpdate(again.spec, req);
      const bump = Boolean(req.force) || canonical(taskShaping(again.spec)) !== canonical(taskShaping(spec));
      if (!bump && canonical(spec) === canonical(again.spec)) return { name: again.name, version: again.version, changed: false };
      const record = await this.rewriteService(lock, { record: again, spec, bump });
      return { name: record.name, version: record.version, changed: true };
    });
  }

  /**
   * `service rollback`, and an update's `failure_action: rollback`: the previous spec comes back
   * as new tasks, paced by the rollback_config of the spec rolled back from.
   */
  async rollback(ref: string, reason = 'manually requested rollback'): Promise<{ name: string; version: number }> {
    const svc = await this.findService(ref);
    return this.locked(svc.stack, 'service rollback', async (lock) => {
      const again = await this.findService(svc.id);
      if (!again.previousSpec) throw new ValidationError([`service ${again.name}: there is no previous spec to roll back to`]);
      const record = await this.rewriteService(lock, { record: again, spec: again.previousSpec, bump: true, rollback: reason });
      this.deps.log.info('service rolled back', { service: record.name, reason });
      return { name: record.name, version: record.version };
    });
  }

  /** One service's new spec, staged and committed through the stack's journal like a deploy. */
  private async rewriteService(lock: HeldLock, update: StackPlan['services']['update'][number]): Promise<ServiceRecord> {
    const { record } = update;
    const networks = await readValues(this.deps.buckets.networks, RECORDS.networks);
    const plan: StackPlan = {
      stack: record.stack,
      networks: { create: [], keep: networks.filter((n) => n.stack === record.stack), remove: [] },
      services: { create: [], update: [update], unchanged: [], remove: [] },
    };
    const undo = new UndoLog();
    let staged: Staged;
    try {
      staged = await this.stage(plan, record.name, networks, undo, {});
      await lock.journal(journalOf(plan, staged));
    } catch (err) {
      await undo.rollback();
      throw err;
    }
    await this.commit(lock, journalOf(plan, staged));
    return staged.services[0]!;
  }

  private async findService(ref: string): Promise<ServiceRecord> {
    const services = await readValues(this.deps.buckets.services, RECORDS.services);
    const svc = services.find((s) => s.name === ref || s.id === ref) ?? services.find((s) => s.id.startsWith(ref));
    if (!svc) throw new NotFoundError(`service ${ref} not found`);
    return svc;
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

  /**
   * `--with-registry-auth`: each image service's login, written before the commit (undone if the
   * deploy fails); a service whose registry has no login loses the one it had.
   */
  private async storeRegistryAuth(services: readonly ServiceRecord[], logins: Record<string, string>, undo: UndoLog): Promise<void> {
    if (!this.deps.buckets.secrets) throw new MeshError('this manager has no mesh_secrets bucket: cannot keep registry logins');
    const store = new RegistryAuthStore(this.deps.buckets.secrets);
    for (const svc of services) {
      const registry = imageRegistry(svc);
      if (registry === undefined) continue;
      const before = await store.get(svc.id);
      const login = logins[registry];
      if (login === undefined && !before) continue;
      undo.push(() => (before ? store.put(svc.id, before.auths) : store.remove(svc.id)));
      if (login !== undefined) await store.put(svc.id, { [registry]: login });
      else await store.remove(svc.id);
    }
  }

  private async stage(plan: StackPlan, file: string, networks: readonly NetworkRecord[], undo: UndoLog, flags: DeployFlags): Promise<Staged> {
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
    for (const spec of plan.services.create) services.push(await this.buildService({ plan, spec, byLocal, ingress, undo, flags }));
    for (const u of plan.services.update) services.push(await this.buildService({ plan, spec: u.spec, existing: u.record, bump: u.bump, ...(u.rollback !== undefined && { rollback: u.rollback }), byLocal, ingress, undo, flags }));
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
    rollback?: string;
    byLocal: Map<string, NetworkRecord>;
    ingress: NetworkRecord | undefined;
    undo: UndoLog;
    flags: DeployFlags;
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
    const version = existing ? existing.version + (opts.bump ? 1 : 0) : 1;
    return {
      id,
      name: fullName(opts.plan.stack, spec.name),
      stack: opts.plan.stack,
      spec,
      networks: nets.map((n) => ({ networkId: n.net.id, aliases: n.aliases })),
      version,
      fwmark,
      endpoint: { vips, ports },
      ...recordOnlyFields(spec, opts.flags, existing),
      ...updateFields({ existing, bump: Boolean(opts.bump), version, now, ...(opts.rollback !== undefined && { rollback: opts.rollback }) }),
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
  }

  /**
   * The journal is in the lock: the deploy is committed. Apply it; if that fails part-way, keep the
   * lock with its journal so the next change to this stack (or a takeover once it is stale) rolls
   * it forward, and say so.
   */
  private async commit(lock: HeldLock, journal: CommitJournal): Promise<void> {
    try {
      await applyJournal(this.deps, journal);
    } catch (err) {
      lock.keepOnRelease();
      throw new MeshError(`the deploy was committed but not fully applied (${String((err as Error)?.message ?? err)}); the next deploy or removal of this stack completes it`, { cause: err });
    }
  }
}

/** The deploy flags that change only the service record, never its tasks. */
type DeployFlags = Pick<DeployRequest, 'registryAuth' | 'resolveImage'>;

/**
 * What a service record holds beside its spec, as a deploy with `flags` leaves it:
 * - `registryAuth`: with `--with-registry-auth`, the image's registry when the caller has a login
 *   for it; without, what it had (Docker keeps a service's login when a deploy sends none);
 * - `resolveImage`: `--resolve-image always` marks an image service, another value clears it, no
 *   flag keeps it.
 */
function recordOnlyFields(spec: ServiceSpec, flags: DeployFlags, existing?: ServiceRecord): Pick<ServiceRecord, 'registryAuth' | 'resolveImage'> {
  const registry = imageRegistry({ spec });
  const hasLogin = registry !== undefined && (flags.registryAuth ? flags.registryAuth[registry] !== undefined : Boolean(existing?.registryAuth?.includes(registry)));
  const resolveImage = flags.resolveImage === undefined ? existing?.resolveImage : flags.resolveImage === 'always' && spec.image !== undefined ? 'always' : undefined;
  return { ...(hasLogin && { registryAuth: [registry] }), ...(resolveImage && { resolveImage }) };
}

/**
 * A change that makes new tasks starts an update (or a rollback) of the tasks, and remembers the
 * spec it replaces (what `service rollback` returns to); other changes keep both as they were.
 */
function updateFields(o: { existing: ServiceRecord | undefined; bump: boolean; version: number; now: string; rollback?: string }): UpdateFields {
  const { existing } = o;
  if (!existing) return {};
  if (!o.bump) {
    const { previousSpec, updateStatus, sameSpecVersions, previousSpecVersions } = existing;
    return { ...(previousSpec && { previousSpec }), ...(updateStatus && { updateStatus }), ...(sameSpecVersions && { sameSpecVersions }), ...(previousSpecVersions && { previousSpecVersions }) };
  }
  // At most the last 16 versions are remembered (a task older than that is replaced anyway).
  const replaced = [existing.version, ...(existing.sameSpecVersions ?? [])].slice(0, 16);
  if (o.rollback !== undefined) {
    return {
      previousSpec: existing.spec,
      previousSpecVersions: replaced,
      // The tasks the failed update never replaced run the spec rolled back to: they stay.
      sameSpecVersions: (existing.previousSpecVersions ?? []).slice(0, 16),
      updateStatus: { state: 'rollback_started', startedAt: o.now, message: o.rollback, version: o.version },
    };
  }
  return { previousSpec: existing.spec, previousSpecVersions: replaced, updateStatus: { state: 'updating', startedAt: o.now, message: 'update in progress', version: o.version } };
}

type UpdateFields = Pick<ServiceRecord, 'previousSpec' | 'updateStatus' | 'sameSpecVersions' | 'previousSpecVersions'>;

/** An unchanged service whose record-only fields change with this deploy is rewritten (without new tasks). */
function withRecordOnlyUpdates(plan: StackPlan, flags: DeployFlags): StackPlan {
  const same = (r: ServiceRecord) => JSON.stringify(recordOnlyFields(r.spec, flags, r)) === JSON.stringify(recordOnlyFields(r.spec, {}, r));
  return {
    ...plan,
    services: {
      ...plan.services,
      unchanged: plan.services.unchanged.filter(same),
      update: [...plan.services.update, ...plan.services.unchanged.filter((r) => !same(r)).map((record) => ({ record, spec: record.spec, bump: false }))],
    },
  };
}

function journalOf(plan: StackPlan, staged: Staged): CommitJournal {
  return {
    networks: staged.newNetworks,
    services: staged.services.map((record) => ({ record, before: plan.services.update.find((u) => u.record.id === record.id)?.record })),
    removeServices: plan.services.remove,
    removeNetworks: plan.networks.remove,
  };
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
