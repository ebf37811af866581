import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { run } from '../../core/exec.js';
import { nodeForwardPolicy, renderForwardChain } from './forward-policy.js';
import { netnsExists } from '../../core/netns.js';
import { intToIp, macOf, parseCidr, size } from '../../core/ipnet.js';
import { addresses, links } from './observe.js';
import { GW_BRIDGE, GW_TASK_IF, GW_TABLE } from './names.js';
export { GW_BRIDGE, GW_TASK_IF, GW_TABLE } from './names.js';

/**
 * Outbound from tasks: a node-local gateway bridge in the node's own namespace (Swarm's
 * docker_gwbridge), one veth per task that has any non-internal network, masquerade to the
 * underlay. Tasks on it cannot reach each other through it (that would bypass overlay
 * isolation), and nothing else is forwarded where meshd turned forwarding on. Our rules are one nftables table of our own, replaced whole; nothing else of the
 * node's firewall is touched.
 */

export interface GatewayDesired {
  /** The bridge's subnet, e.g. 172.31.0.0/16; the bridge holds its first address. */
  subnet: string;
  mtu: number;
  /** Tasks on the bridge, with their node-local address; isolated ones reach only the node (DNS). */
  tasks: { taskId: string; sandbox: string; hostPort: string; addr: string; isolated: boolean }[];
  /** A file that exists while meshd owns the node's forwarding (it found ip_forward off and turned it on). */
  forwardingMarker: string;
}

export function gatewayAddr(subnet: string): string {
  return intToIp(parseCidr(subnet).base + 1);
}

/**
 * The bridge's own MAC, fixed (02:42:<gateway address>, like Docker's bridge, which sets one
 * too). A bridge without one takes the lowest MAC of its ports, so a task's veth joining or
 * leaving changes it; every task keeps the old MAC for its gateway in its ARP cache (the kernel
 * sends no gratuitous ARP) and its packets to the node (DNS, outbound, the ingress sandbox's
 * replies) go to a MAC no port has any more, flooded and never delivered, until that entry
 * times out: 7-20 s without DNS on the node during rolling updates.
 */
export function gatewayMac(subnet: string): string {
  return macOf(gatewayAddr(subnet));
}

/**
 * The node's gateway table: masquerade out of the node, and the node's forward policy
 * (`nodeForwardPolicy`): drop by default when meshd turned forwarding on, only meshd's paths open.
 */
export function renderGatewayRules(opts: { subnet: string; isolated?: readonly string[]; ownsForwarding: boolean }): string {
  const { subnet, isolated = [], ownsForwarding } = opts;
  return [
    `add table ip ${GW_TABLE}`,
    `delete table ip ${GW_TABLE}`,
    `table ip ${GW_TABLE} {`,
    ...renderForwardChain(nodeForwardPolicy({ bridge: GW_BRIDGE, isolated, ownsForwarding })),
    `\tchain postrouting {`,
    `\t\ttype nat hook postrouting priority srcnat; policy accept;`,
    `\t\tip saddr ${subnet} oifname != "${GW_BRIDGE}" masquerade`,
    `\t}`,
    `}`,
    '',
  ].join('\n');
}

/** Node-local addresses for task gateway interfaces: the lowest free one, kept for the task's life. */
export class GatewayAddresses {
  private readonly byTask = new Map<string, string>();

  constructor(private readonly subnet: string) {}

  /** Re-learns what a previous meshd handed out, from the sandboxes themselves. */
  async recover(sandboxes: ReadonlyMap<string, string>): Promise<void> {
    for (const [taskId, netns] of sandboxes) {
      if (!(await netnsExists(netns))) continue;
      const have = (await links(netns)).has(GW_TASK_IF) ? await addresses(netns, GW_TASK_IF) : [];
      if (have[0]) this.byTask.set(taskId, have[0]);
    }
  }

  taskOf(addr: string): string | undefined {
    for (const [id, a] of this.byTask) if (a.split('/')[0] === addr) return id;
    return undefined;
  }

  /** The addresses as last assigned. */
  current(): Map<string, string> {
    return new Map(this.byTask);
  }

  /** Addresses for exactly these tasks (new ones assigned, departed ones released). */
  assign(taskIds: readonly string[]): Map<string, string> {
    for (const id of [...this.byTask.keys()]) if (!taskIds.includes(id)) this.byTask.delete(id);
    const cidr = parseCidr(this.subnet);
    const used = new Set(this.byTask.values());
    let next = 2;
    for (const id of taskIds) {
      if (this.byTask.has(id)) continue;
      while (used.has(`${intToIp(cidr.base + next)}/${cidr.prefix}`)) next++;
      if (next >= size(cidr) - 1) throw new Error(`gateway subnet ${this.subnet} is full`);
      const addr = `${intToIp(cidr.base + next)}/${cidr.prefix}`;
      used.add(addr);
      this.byTask.set(id, addr);
    }
    return new Map(this.byTask);
  }
}

/**
 * Removes the bridge and our table once no task and no ingress sandbox needs them; forwarding
 * goes back off if meshd turned it on (else the node would route with no policy of ours).
 */
export async function removeGateway(forwardingMarker: string): Promise<void> {
  if (await exists(forwardingMarker)) {
    await run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
    await rm(forwardingMarker, { force: true });
  }
  await run(['ip', 'link', 'del', GW_BRIDGE], { okExitCodes: [1] });
  await run(['nft', '-f', '-'], { input: `add table ip ${GW_TABLE}\ndelete table ip ${GW_TABLE}\n` });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/**
 * Whether the node's forwarding is meshd's to police (Docker's rule): it is when forwarding is
 * off now (meshd is about to turn it on; remembered in the marker, so a restarted meshd knows),
 * or when the marker says an earlier meshd turned it on. Forwarding that was on before meshd is
 * the operator's: then our chain drops only what crosses meshd's own isolation.
 */
async function ownsForwarding(marker: string): Promise<{ owns: boolean; enable: boolean }> {
  const on = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() === '1';
  if (on) return { owns: await exists(marker), enable: false };
  await writeFile(marker, '');
  return { owns: true, enable: true };
}

/**
 * The bridge, our table (forward policy, masquerade), forwarding, and each task's veth with its
 * default route; with `onlyLegOf`, the legs of that one sandbox only (an attach), the table still
 * rendered from every leg: an attach must not drop the isolation of the others.
 */
export async function ensureGateway(g: GatewayDesired, opts: { onlyLegOf?: string } = {}): Promise<void> {
  const prefix = parseCidr(g.subnet).prefix;
  const bridge = (await links(undefined)).get(GW_BRIDGE);
  const mac = gatewayMac(g.subnet);
  // Created with its MAC set: the kernel then keeps it whatever ports come and go.
  if (!bridge) await run(['ip', 'link', 'add', GW_BRIDGE, 'address', mac, 'type', 'bridge']);
  const bridgeAddrs = await addresses(undefined, GW_BRIDGE);
  const gw = `${gatewayAddr(g.subnet)}/${prefix}`;
  const cmds = bridgeAddrs.includes(gw) ? [] : [`addr add ${gw} dev ${GW_BRIDGE}`];
  if (bridge && bridge.address !== mac) {
    // A bridge made by an older meshd (or by hand) gets it too, only when it differs, announced by
    // a gratuitous ARP (arp_notify: the kernel sends one on the change), so its tasks switch now.
    await run(['sysctl', '-q', '-w', `net.ipv4.conf.${GW_BRIDGE}.arp_notify=1`]);
    cmds.push(`link set ${GW_BRIDGE} address ${mac}`);
  }
  cmds.push(`link set ${GW_BRIDGE} up`);
  await run(['ip', '-batch', '-'], { input: cmds.join('\n') + '\n' });
  const forwarding = await ownsForwarding(g.forwardingMarker);
  const isolated = g.tasks.filter((t) => t.isolated).map((t) => t.addr.split('/')[0]!);
  // The policy first, then forwarding on: the node never routes without it.
  await run(['nft', '-f', '-'], { input: renderGatewayRules({ subnet: g.subnet, isolated, ownsForwarding: forwarding.owns }) });
  if (forwarding.enable) await run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  for (const t of g.tasks) if (opts.onlyLegOf === undefined || t.taskId === opts.onlyLegOf) await ensureSandboxGateway(g, t);
}

/** A sandbox's leg on the gateway bridge: veth, node-local address, default route via the bridge. */
export async function ensureSandboxGateway(g: GatewayDesired, t: { sandbox: string; hostPort: string; addr: string; isolated?: boolean }): Promise<void> {
  if (!(await netnsExists(t.sandbox))) return;
  const hostSideExists = (await links(undefined)).has(t.hostPort);
  const inSandbox = await links(t.sandbox);
  if (!inSandbox.has(GW_TASK_IF) || !hostSideExists) {
    if (inSandbox.has(GW_TASK_IF)) await run(['ip', 'link', 'del', GW_TASK_IF], { netns: t.sandbox });
    if (hostSideExists) await run(['ip', 'link', 'del', t.hostPort]);
    await run(['ip', 'link', 'add', t.hostPort, 'mtu', String(g.mtu), 'type', 'veth', 'peer', 'name', GW_TASK_IF, 'netns', t.sandbox]);
  }
  await run(['ip', '-batch', '-'], { input: `link set ${t.hostPort} master ${GW_BRIDGE}\nlink set ${t.hostPort} up\n` });
  const have = await addresses(t.sandbox, GW_TASK_IF);
  const cmds: string[] = [];
  for (const a of have) if (a !== t.addr) cmds.push(`addr del ${a} dev ${GW_TASK_IF}`);
  if (!have.includes(t.addr)) cmds.push(`addr add ${t.addr} dev ${GW_TASK_IF}`);
  cmds.push(`link set ${GW_TASK_IF} up`);
  if (!t.isolated) cmds.push(`route replace default via ${gatewayAddr(g.subnet)} dev ${GW_TASK_IF}`);
  await run(['ip', '-batch', '-'], { netns: t.sandbox, input: cmds.join('\n') + '\n' });
}
