import type { KvMirror } from '../core/state/mirror.js';
import type { NetworkRecord, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../core/model.js';
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
    },
  ) {
    const { networks, services, tasks, status, nodes } = mirrors;
    for (const m of [networks, services, tasks, status, nodes] as KvMirror<unknown>[]) m.onChange(() => (this.table = undefined));
  }

  get(): NameTable {
    this.table ??= buildNameTable({
      networks: this.mirrors.networks.values(),
      services: this.mirrors.services.values(),
      tasks: this.mirrors.tasks.values(),
      statuses: new Map(this.mirrors.status.values().map((s) => [s.taskId, s])),
      downNodes: downNodeIds(this.mirrors.nodes.values()),
    });
    return this.table;
  }
}
