import { join } from 'node:path';
import { shortId } from '../core/ids.js';

/** Where a node keeps each thing under its own run directory (never global defaults). */
export class RunPaths {
  constructor(readonly runDir: string) {}

  get netnsDir(): string {
    return join(this.runDir, 'netns');
  }
  get tasksDir(): string {
    return join(this.runDir, 'tasks');
  }
  taskNetns(taskId: string): string {
    return join(this.netnsDir, `t_${shortId(taskId)}`);
  }
  overlayNetns(networkId: string): string {
    return join(this.netnsDir, `ov_${shortId(networkId)}`);
  }
  lbNetns(networkId: string): string {
    return join(this.netnsDir, `lb_${shortId(networkId)}`);
  }
  /** Exists while meshd owns the node's IPv4 forwarding (worker/dataplane/gateway.ts). */
  get forwardingMarker(): string {
    return join(this.runDir, 'ip_forward.meshd');
  }
  /** Where the `meshd` CNI plugin reaches this meshd (worker/cni/server.ts). */
  get cniSocket(): string {
    return join(this.runDir, 'cni.sock');
  }
  get ingressSandbox(): string {
    return join(this.netnsDir, 'ingress_sbox');
  }
  taskDir(taskId: string): string {
    return join(this.tasksDir, taskId);
  }
  taskLog(taskId: string): string {
    return join(this.taskDir(taskId), 'task.log');
  }
  taskState(taskId: string): string {
    return join(this.taskDir(taskId), 'state.json');
  }
}
