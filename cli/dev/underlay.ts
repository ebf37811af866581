import { mkdir } from 'node:fs/promises';
import { run } from '../../core/exec.js';
import { ensureNetns } from '../../core/netns.js';
import type { DevCluster, DevNode } from './cluster.js';

/**
 * The dev cluster's "physical" network: one underlay namespace with a bridge (the switch) and one
 * namespace per node wired to it by a veth pair. Every command runs inside a namespace file the
 * cluster owns; nothing touches the machine's own network namespace.
 */

/** Interface name of node i's veth end on the bridge (`vn<i>`). */
export function bridgePortName(node: DevNode): string {
  return `vn${node.hostname.replace(/^node-/, '')}`;
}

/** Creates the underlay namespace with br0 (MTU, up) holding the client address. */
export async function createUnderlay(cluster: DevCluster): Promise<void> {
  const u = cluster.underlay;
  await ensureNetns(u.netns);
  const batch = [
    `link add ${u.bridge} mtu ${u.mtu} type bridge`,
    `addr add ${u.clientAddr}/${u.prefixLen} dev ${u.bridge}`,
    `link set ${u.bridge} up`,
  ];
  await run(['ip', '-batch', '-'], { netns: u.netns, input: batch.join('\n') + '\n' });
}

/**
 * Creates node's namespace and plugs it into br0: the veth is made inside the underlay namespace
 * with its peer created directly in the node namespace as `eth0` (one step, so no name ever
 * clashes in the underlay); then address, link up and default route via the client address.
 */
export async function attachNode(cluster: DevCluster, node: DevNode): Promise<void> {
  const u = cluster.underlay;
  const port = bridgePortName(node);
  await ensureNetns(node.netns);
  await mkdir(node.stateDir, { recursive: true });
  await mkdir(node.runDir, { recursive: true });
  const underlayBatch = [
    `link add ${port} mtu ${u.mtu} type veth peer name eth0 netns ${node.netns}`,
    `link set ${port} master ${u.bridge}`,
    `link set ${port} up`,
  ];
  await run(['ip', '-batch', '-'], { netns: u.netns, input: underlayBatch.join('\n') + '\n' });
  const nodeBatch = [
    `link set lo up`,
    `link set eth0 mtu ${u.mtu}`,
    `addr add ${node.addr}/${u.prefixLen} dev eth0`,
    `link set eth0 up`,
    `route add default via ${u.clientAddr} dev eth0`,
  ];
  await run(['ip', '-batch', '-'], { netns: node.netns, input: nodeBatch.join('\n') + '\n' });
}
