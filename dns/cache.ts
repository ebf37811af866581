import type { KvMirror } from '../core/state/mirror.js';
import type { EndpointRecord, NetworkRecord, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../core/model.js';
import { downNodeIds } from '../core/serving.js';
import { buildNameTable, type NameTable } from './names.js';

/** The name table, rebuilt only after cluster state changed (queries read it many times). */
export class NameTableCache {
  private table: NameTable | undefined;

  constructor(
    private readonly mirrors: {
      networks: KvMirror<NetworkRecord>;
      services: KvMirror<ServiceRecord>;
      tasks: KvMirror<TaskRecord>;
      status: KvMirror<TaskStatus>;
      nodes: KvMirror<NodeRecord>;
      endpoints: KvMirror<EndpointRecord>;
    },
  ) {
    const { networks, services, tasks, status, nodes, endpoints } = mirrors;
    for (const m of [networks, services, tasks, status, nodes, endpoints] as KvMirror<unknown>[]) m.onChange(() => (this.table = undefined));
  }

  get(): NameTable {
    this.table ??= buildNameTable({
      networks: this.mirrors.networks.values(),
      services: this.mirrors.services.values(),
      tasks: this.mirrors.tasks.values(),
      statuses: new Map(this.mirrors.status.values().map((s) => [s.taskId, s])),
      downNodes: downNodeIds(this.mirrors.nodes.values()),
      endpoints: this.mirrors.endpoints.values(),
    });
    return this.table;
  }
}
