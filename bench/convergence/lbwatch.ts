/**
 * Watches the load balancer each node's kernel really holds (nft state in the node's lb_
 * namespace, read by test/helpers/lb-state.ts) until a condition holds on every node.
 */
import { activeBackends } from '../../test/helpers/lb-state.js';
import type { BenchCluster } from '../cluster/cluster.js';

const now = () => performance.timeOrigin + performance.now();

/** Per node, when `ok(backends of the VIP)` first held (epoch ms); throws after `timeoutMs`. */
export async function waitLbAll(c: BenchCluster, nodes: readonly string[], networkId: string, vip: string, ok: (backends: string[]) => boolean, timeoutMs: number): Promise<number[]> {
  const deadline = now() + timeoutMs;
  return Promise.all(
    nodes.map(async (node) => {
      const netns = c.lbNetns(node, networkId);
      let last: string[] = [];
      for (;;) {
        last = await activeBackends(netns, `vip ${vip}`).catch(() => last);
        if (ok(last)) return now();
        if (now() > deadline) throw new Error(`LB of ${node} not as wanted after ${timeoutMs} ms (has ${last.length}: ${last.join(', ')})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }),
  );
}
