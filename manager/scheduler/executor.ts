import type { Buckets } from '../../core/state/buckets.js';
import type { LbAddress, NetworkRecord, ServiceRecord, TaskAddress, TaskRecord, UpdateStatus } from '../../core/model.js';
import { encode } from '../../core/state/codec.js';
import { ensureLbAddress, releaseLbAddress } from '../lb-addresses.js';
import { newId, shortId } from '../../core/ids.js';
import { parseCidr } from '../../core/ipnet.js';
import type { Allocator } from '../allocator.js';
import type { Logger } from '../../core/log.js';
import type { SchedulerAction } from './plan.js';
import type { FencedTaskWriter } from './fence.js';

/** Key of a task in the tasks bucket: by node first, so a worker watches only its own. */
export function taskKey(t: Pick<TaskRecord, 'nodeId' | 'id'>): string {
  return `${t.nodeId}.${t.id}`;
}

export interface ExecutorDeps {
  buckets: Buckets;
  allocator: Allocator;
  log: Logger;
  service: (id: string) => ServiceRecord | undefined;
  network: (id: string) => NetworkRecord | undefined;
  task: (id: string) => TaskRecord | undefined;
  /** The current term's fenced writer: the only path by which tasks are written. */
  writer: () => FencedTaskWriter;
  /** The revision of a service record as the leader last saw it (update statuses are written by compare-and-swap). */
  serviceRevision: (id: string) => number | undefined;
  /** Returns a service to its previous spec (`failure_action: rollback`), through the deployer. */
  rollback: (serviceId: string, reason: string) => Promise<void>;
}

/** Applies scheduler actions to KV: allocate a task's addresses and write it; shut down; remove. */
export class SchedulerExecutor {
  constructor(private readonly deps: ExecutorDeps) {}

  /** Applies the actions; returns the services stream sequence of its newest update-status write (0: none). */
  async apply(actions: readonly SchedulerAction[]): Promise<{ servicesSeq: number }> {
    let servicesSeq = 0;
    for (const a of actions) {
      if (a.type === 'create') await this.create(a.serviceId, a.slot, a.nodeId);
      else if (a.type === 'shutdown') await this.shutdown(a.taskId, a.reason);
      else if (a.type === 'remove') await this.remove(a.taskId, a.reason);
      else if (a.type === 'retire') await this.retire(a.taskId);
      else if (a.type === 'update-status') servicesSeq = Math.max(servicesSeq, await this.setUpdateStatus(a.serviceId, a.status));
      else await this.rollback(a.serviceId, a.reason);
    }
    return { servicesSeq };
  }

  private async create(serviceId: string, slot: number, nodeId: string): Promise<void> {
    const service = this.deps.service(serviceId);
    if (!service) return;
    const id = newId();
    const addresses: TaskAddress[] = [];
    try {
      for (const att of service.networks) {
        const net = this.deps.network(att.networkId);
        if (!net) throw new Error(`network ${att.networkId} of ${service.name} is missing`);
        const ip = await this.deps.allocator.ip(net.id, net.subnet, id);
        addresses.push({ networkId: net.id, addr: `${ip}/${parseCidr(net.subnet).prefix}` });
        await this.ensureLbAddress(net, nodeId);
      }
      const task: TaskRecord = {
        id,
        serviceId,
        serviceName: service.name,
        slot,
        name: slot > 0 ? `${service.name}.${slot}` : `${service.name}.${shortId(nodeId)}`,
        nodeId,
        desiredState: 'running',
        specVersion: service.version,
        addresses,
        createdAt: new Date().toISOString(),
        term: this.deps.writer().term,
      };
      await this.deps.writer().put(taskKey(task), task);
      this.deps.log.info('task created', { task: task.name, id, node: nodeId });
    } catch (err) {
      for (const a of addresses) await this.deps.allocator.releaseIp(a.networkId, a.addr, id);
      throw err;
    }
  }

  /** One load-balancer address per node per network, allocated when the node first joins it. */
  async ensureLbAddress(net: NetworkRecord, nodeId: string): Promise<void> {
    await ensureLbAddress(this.deps.buckets.lbaddrs, this.deps.allocator, net, nodeId);
  }

  async releaseLbAddress(l: LbAddress): Promise<void> {
    await releaseLbAddress(this.deps.buckets.lbaddrs, this.deps.allocator, l);
  }

  private async shutdown(taskId: string, reason: string): Promise<void> {
    const task = this.deps.task(taskId);
    if (!task || task.desiredState === 'shutdown') return;
    const writer = this.deps.writer();
    await writer.put(taskKey(task), { ...task, desiredState: 'shutdown', term: writer.term } satisfies TaskRecord);
    this.deps.log.info('task shutting down', { task: task.name, id: taskId, reason });
  }

  /** A finished task stays in its slot's history; its addresses are free for new tasks. */
  private async retire(taskId: string): Promise<void> {
    const task = this.deps.task(taskId);
    if (!task || task.addresses.length === 0) return;
    const writer = this.deps.writer();
    await writer.put(taskKey(task), { ...task, addresses: [], term: writer.term } satisfies TaskRecord);
    for (const a of task.addresses) await this.deps.allocator.releaseIp(a.networkId, a.addr, task.id);
  }

  /** Compare-and-swap on the record the plan saw: a deploy that changed it meanwhile wins, and the next pass decides again. */
  private async setUpdateStatus(serviceId: string, status: UpdateStatus): Promise<number> {
    const service = this.deps.service(serviceId);
    const revision = this.deps.serviceRevision(serviceId);
    if (!service || revision === undefined) return 0;
    try {
      const seq = await this.deps.buckets.services.update(serviceId, encode({ ...service, updateStatus: status } satisfies ServiceRecord), revision);
      this.deps.log.info('service update status', { service: service.name, state: status.state, message: status.message });
      return seq;
    } catch (err) {
      this.deps.log.debug('service changed while its update status was written; the next pass decides again', { service: service.name, err });
      return 0;
    }
  }

  private async rollback(serviceId: string, reason: string): Promise<void> {
    const service = this.deps.service(serviceId);
    if (!service) return;
    this.deps.log.warn('rolling back a failed update', { service: service.name, reason });
    await this.deps.rollback(serviceId, reason);
  }

  private async remove(taskId: string, reason: string): Promise<void> {
    const task = this.deps.task(taskId);
    if (!task) return;
    await this.deps.writer().delete(taskKey(task));
    await this.deps.buckets.status.delete(taskKey(task)).catch(() => undefined);
    for (const a of task.addresses) await this.deps.allocator.releaseIp(a.networkId, a.addr, task.id);
    this.deps.log.info('task removed', { task: task.name, id: taskId, reason });
  }
}
