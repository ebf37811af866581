/**
 * Keeping sandboxes' interfaces as desired without re-deriving them all every few seconds, and
 * taking out what no CNI container wants any more (the reconciler's full sync calls both).
 */
import { run } from '../../core/exec.js';
import type { Logger } from '../../core/log.js';
import { ensureAttachment } from './attach.js';
import type { Attachment, DataplaneDesired } from './desired.js';
import { ENDPOINT_BRIDGE_PORT, GATEWAY_LEG, GW_BRIDGE, gatewayLeg } from './names.js';
import { links } from './observe.js';

/** How long an interface wired as desired goes without being checked against the kernel again. */
export const ATTACHMENT_RECHECK_MS = 60_000;

/**
 * Interfaces wired as desired, and when they were last checked against the kernel: the periodic
 * sync re-checks one only when its desired state changed or the check is older than
 * ATTACHMENT_RECHECK_MS (drift repair), not every few seconds. Attaches (a task's start, a CNI
 * ADD) always wire, and record here.
 */
export class AttachmentChecks {
  private readonly checked = new Map<string, { desired: string; at: number }>();

  /** An attach wired `a` just now. */
  wired(a: Attachment): void {
    this.checked.set(keyOf(a), { desired: JSON.stringify(a), at: performance.now() });
  }

  /** Taken out: wired again, should it come back, not taken for checked. */
  forget(ownerId: string, ifname: string): void {
    this.checked.delete(keyOf({ ownerId, ifname }));
  }

  /** Every desired interface whose desired state changed, or not checked for ATTACHMENT_RECHECK_MS. */
  async sync(attachments: readonly Attachment[]): Promise<void> {
    const keep = new Set<string>();
    for (const a of attachments) {
      const key = keyOf(a);
      keep.add(key);
      const seen = this.checked.get(key);
      if (seen?.desired === JSON.stringify(a) && performance.now() - seen.at < ATTACHMENT_RECHECK_MS) continue;
      // Not recorded when its sandbox is not there (yet): the next sync looks again.
      if (await ensureAttachment(a)) this.wired(a);
      else this.checked.delete(key);
    }
    for (const key of [...this.checked.keys()]) if (!keep.has(key)) this.checked.delete(key);
  }
}

const keyOf = (a: Pick<Attachment, 'ownerId' | 'ifname'>) => `${a.ownerId}/${a.ifname}`;

/**
 * CNI containers' links that no endpoint wants any more (its record went while meshd was down,
 * or taking it out failed): their overlay ports (`c<id>`, which take the container's interface
 * with them) and gateway legs on the node's bridge. Left there, the container would keep an
 * address that is handed out again, and its leg a gateway address a new task then gets too.
 * A leg is left alone when any of `localTaskIds` could own it.
 */
export async function sweepEndpointLinks(d: DataplaneDesired, opts: { localTaskIds: readonly string[]; log: Logger }): Promise<void> {
  for (const o of d.overlays) {
    const wanted = new Set(d.attachments.filter((a) => a.overlayNetns === o.netns).map((a) => a.bridgePort));
    for (const name of (await links(o.netns)).keys()) {
      if (!ENDPOINT_BRIDGE_PORT.test(name) || wanted.has(name)) continue;
      opts.log.info('removing the overlay port of a container attachment that is gone', { netns: o.netns, port: name });
      await run(['ip', 'link', 'del', name], { netns: o.netns, okExitCodes: [1] });
    }
  }
  const legs = new Set(d.gateway.tasks.map((t) => t.hostPort));
  const taskLegs = new Set(opts.localTaskIds.map(gatewayLeg));
  for (const [name, link] of await links(undefined)) {
    if (link.master !== GW_BRIDGE || !GATEWAY_LEG.test(name) || legs.has(name) || taskLegs.has(name)) continue;
    opts.log.info('removing the gateway leg of a container attachment that is gone', { leg: name });
    await run(['ip', 'link', 'del', name], { okExitCodes: [1] });
  }
}
