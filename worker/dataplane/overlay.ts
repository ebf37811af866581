import { run } from '../../core/exec.js';
import { ensureNetns } from '../../core/netns.js';
import type { OverlayDesired, Peer } from './desired.js';
import { fdb, links, neighbours } from './observe.js';
import { BRIDGE, VXLAN } from './names.js';
export { BRIDGE, VXLAN } from './names.js';


/**
 * The overlay namespace: a bridge and a vxlan device. The vxlan device is created in the node's
 * own namespace and then moved in, so its UDP socket stays on the underlay. Learning is off and
 * nothing floods between nodes: remote endpoints come only from the static peer table.
 */
export async function ensureOverlay(o: OverlayDesired): Promise<void> {
  await ensureNetns(o.netns);
  const have = await links(o.netns);
  const batch: string[] = [];
  if (!have.has(BRIDGE)) batch.push(`link add ${BRIDGE} type bridge`);
  if (batch.length) await run(['ip', '-batch', '-'], { netns: o.netns, input: batch.join('\n') + '\n' });
  if (!have.has(VXLAN)) await createVxlan(o);
  await run(['ip', '-batch', '-'], {
    netns: o.netns,
    input: [`link set ${VXLAN} mtu ${o.mtu}`, `link set ${VXLAN} master ${BRIDGE}`, `link set ${VXLAN} up`, `link set ${BRIDGE} mtu ${o.mtu}`, `link set ${BRIDGE} up`].join('\n') + '\n',
  });
}

async function createVxlan(o: OverlayDesired): Promise<void> {
  const temp = `vx${o.vni}`;
  // A leftover from an interrupted run would block the name in the node's namespace.
  await run(['ip', 'link', 'del', temp], { okExitCodes: [1] });
  await run(['ip', 'link', 'add', temp, 'type', 'vxlan', 'id', String(o.vni), 'dstport', String(o.vxlanPort), 'local', o.localAddr, 'nolearning', 'proxy']);
  try {
    await run(['ip', 'link', 'set', temp, 'netns', o.netns]);
  } catch (err) {
    await run(['ip', 'link', 'del', temp], { okExitCodes: [1] });
    throw err;
  }
  await run(['ip', 'link', 'set', temp, 'name', VXLAN], { netns: o.netns });
}

/** Static FDB (MAC -> remote VTEP) and neighbour (IP -> MAC) entries, exactly the peer table. */
export async function syncPeers(o: OverlayDesired): Promise<void> {
  const [haveFdb, haveNeigh] = await Promise.all([fdb(o.netns, VXLAN), neighbours(o.netns, VXLAN)]);
  const want = new Map<string, Peer>(o.peers.map((p) => [p.mac, p]));
  const fdbCmds: string[] = [];
  for (const e of haveFdb) {
    if (!e.dst) continue;
    const p = want.get(e.mac);
    if (!p || p.vtep !== e.dst) fdbCmds.push(`fdb del ${e.mac} dev ${VXLAN} dst ${e.dst} self`);
  }
  for (const p of o.peers) {
    if (!haveFdb.some((e) => e.mac === p.mac && e.dst === p.vtep)) fdbCmds.push(`fdb replace ${p.mac} dev ${VXLAN} dst ${p.vtep} self permanent`);
  }
  const neighCmds: string[] = [];
  const wantIps = new Map(o.peers.map((p) => [p.ip, p]));
  for (const n of haveNeigh) {
    const p = wantIps.get(n.dst);
    if (!p || p.mac !== n.lladdr) neighCmds.push(`neigh del ${n.dst} dev ${VXLAN}`);
  }
  for (const p of o.peers) {
    if (!haveNeigh.some((n) => n.dst === p.ip && n.lladdr === p.mac)) neighCmds.push(`neigh replace ${p.ip} lladdr ${p.mac} dev ${VXLAN} nud permanent`);
  }
  if (fdbCmds.length) await run(['bridge', '-batch', '-'], { netns: o.netns, input: fdbCmds.join('\n') + '\n' });
  if (neighCmds.length) await run(['ip', '-batch', '-'], { netns: o.netns, input: neighCmds.join('\n') + '\n' });
}
