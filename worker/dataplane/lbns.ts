import { run } from '../../core/exec.js';
import { ensureNetns } from '../../core/netns.js';
import type { LbNamespaceDesired } from './desired.js';
import { addresses, links } from './observe.js';
import { BRIDGE } from './overlay.js';
import { applyLoadBalancerForwardPolicy } from './forward-policy.js';
import type { LbApplier } from './lb-applier.js';
import { LB_IF, LB_BRIDGE_PORT } from './names.js';
export { LB_IF, LB_BRIDGE_PORT } from './names.js';


/**
 * The `lb_<net>` namespace: one interface on the overlay bridge holding the node's LB address
 * and every VIP of the network as a /32 (so VIP ARP is answered here, on this node, and never
 * crosses the overlay), forwarding on but only for our DNAT (forward-policy.ts), and the
 * load-balancer rules from the chosen backend.
 */
export async function ensureLbNamespace(opts: { lb: LbNamespaceDesired; overlayNetns: string; mtu: number; applier: Pick<LbApplier, 'apply'> }): Promise<void> {
  const { lb, overlayNetns, mtu } = opts;
  await ensureNetns(lb.netns);
  const inLb = await links(lb.netns);
  if (!inLb.has(LB_IF)) {
    await run(['ip', 'link', 'del', LB_BRIDGE_PORT], { netns: overlayNetns, okExitCodes: [1] });
    await run(['ip', 'link', 'add', LB_BRIDGE_PORT, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', LB_IF, 'netns', lb.netns], { netns: overlayNetns });
    await run(['ip', '-batch', '-'], { netns: lb.netns, input: `link set ${LB_IF} address ${lb.mac} mtu ${mtu}\n` });
  }
  await run(['ip', '-batch', '-'], { netns: overlayNetns, input: `link set ${LB_BRIDGE_PORT} master ${BRIDGE}\nlink set ${LB_BRIDGE_PORT} up\n` });
  const want = [lb.addr, ...lb.vips];
  const have = await addresses(lb.netns, LB_IF);
  const cmds: string[] = [];
  for (const a of have) if (!want.includes(a)) cmds.push(`addr del ${a} dev ${LB_IF}`);
  for (const a of want) if (!have.includes(a)) cmds.push(`addr add ${a} dev ${LB_IF}`);
  cmds.push(`link set ${LB_IF} up`);
  await run(['ip', '-batch', '-'], { netns: lb.netns, input: cmds.join('\n') + '\n' });
  // Before the applier turns forwarding on: only our DNAT is ever forwarded here.
  await applyLoadBalancerForwardPolicy(lb.netns);
  await opts.applier.apply(lb.netns, lb.lb);
}
