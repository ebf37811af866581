import { run } from '../../core/exec.js';
import { netnsExists } from '../../core/netns.js';
import type { Attachment } from './desired.js';
import { addresses, links } from './observe.js';
import { BRIDGE } from './overlay.js';

/**
 * A task's interface on an overlay: a veth pair made in the overlay namespace with its peer
 * created straight inside the task's sandbox as `eth<i>`, with the task's address and stable MAC.
 * Returns false when the sandbox does not exist (yet).
 */
export async function ensureAttachment(a: Attachment): Promise<boolean> {
  if (!(await netnsExists(a.sandbox))) return false;
  const [inSandbox, inOverlay] = await Promise.all([links(a.sandbox), links(a.overlayNetns)]);
  let dev = inSandbox.get(a.ifname);
  if (!dev || !inOverlay.has(a.bridgePort)) {
    if (dev) await run(['ip', 'link', 'del', a.ifname], { netns: a.sandbox });
    if (inOverlay.has(a.bridgePort)) await run(['ip', 'link', 'del', a.bridgePort], { netns: a.overlayNetns });
    await run(['ip', 'link', 'add', a.bridgePort, 'mtu', String(a.mtu), 'type', 'veth', 'peer', 'name', a.ifname, 'netns', a.sandbox], { netns: a.overlayNetns });
    dev = undefined;
  }
  await run(['ip', '-batch', '-'], { netns: a.overlayNetns, input: `link set ${a.bridgePort} master ${BRIDGE}\nlink set ${a.bridgePort} up\n` });
  const have = await addresses(a.sandbox, a.ifname);
  const cmds: string[] = [];
  if (dev?.address !== a.mac) cmds.push(`link set ${a.ifname} down`, `link set ${a.ifname} address ${a.mac}`);
  if (dev?.mtu !== a.mtu) cmds.push(`link set ${a.ifname} mtu ${a.mtu}`);
  for (const addr of have) if (addr !== a.addr) cmds.push(`addr del ${addr} dev ${a.ifname}`);
  if (!have.includes(a.addr)) cmds.push(`addr add ${a.addr} dev ${a.ifname}`);
  cmds.push(`link set ${a.ifname} up`);
  await run(['ip', '-batch', '-'], { netns: a.sandbox, input: cmds.join('\n') + '\n' });
  // Pin the task's MAC to its bridge port. Addresses (and so MACs) are reused: the overlay
  // bridge may still hold a learned entry sending this MAC out of the VXLAN port, to the node of
  // the address's previous owner, and would blackhole traffic to the new task until it happens
  // to send a frame itself. Sticky: frames from a previous owner still running on a node that
  // went silent (its replies, retransmissions) must not move it back either.
  if (!dev || dev.address !== a.mac) await run(['bridge', 'fdb', 'replace', a.mac, 'dev', a.bridgePort, 'master', 'static', 'sticky'], { netns: a.overlayNetns });
  return true;
}

/**
 * Deletes these interfaces from a sandbox, if it and they still exist (a veth's peer goes with
 * it). Idempotent: a namespace already gone took its interfaces with it.
 */
export async function removeSandboxLinks(opts: { netns: string; links: readonly string[] }): Promise<void> {
  if (!(await netnsExists(opts.netns))) return;
  const have = await links(opts.netns);
  for (const name of opts.links) if (have.has(name)) await run(['ip', 'link', 'del', name], { netns: opts.netns, okExitCodes: [1] });
}
