import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { stateMirrors, type ClusterMirrors } from '../../core/state/cluster-mirrors.js';
import { CoalescingRunner } from '../../core/runner.js';
import { Mutex } from '../../core/mutex.js';
import type { Logger } from '../../core/log.js';
import type { RunPaths } from '../paths.js';
import { desiredDataplane, gatewayOwners, routingMeshNeeded, type DataplaneDesired, type OverlayDesired } from './desired.js';
import { ensureGateway, gatewayAddr, GatewayAddresses, GW_TASK_IF, removeGateway } from './gateway.js';
import { AttachmentChecks, sweepEndpointLinks } from './attachment-upkeep.js';
import { applyPublishRules, applyTaskPorts, ensureIngressSandbox } from './ingress.js';
import { INGRESS_SBOX_GW_KEY } from './ingress-desired.js';
import { isNetnsMounted, removeNetns } from '../../core/netns.js';
import { ensureOverlay, syncPeers } from './overlay.js';
import { peerKey, unsyncedPeers, withoutBackends } from './reachable.js';
import { ensureAttachment, removeSandboxLinks } from './attach.js';
import { ensureLbNamespace } from './lbns.js';
import type { LbApplier } from './lb-applier.js';
import type { LbDesired } from '../../lb/index.js';
import type { PublishRule } from './ingress-desired.js';
import type { AppliedSeqs } from './applied-report.js';

export type DataplaneMirrors = ClusterMirrors;

export interface DataplaneOptions {
  nodeId: string;
  mirrors: DataplaneMirrors;
  paths: RunPaths;
  applier: LbApplier;
  vxlanPort: () => number;
  underlayMtu: number;
  gatewaySubnet: string;
  /** Period of the full resync (default 5 s). */
  resyncEveryMs?: number;
  /** Told the gateway bridge's address once it is up, and undefined when it is removed. */
  onGateway?: (addr: string | undefined) => Promise<void>;
  /**
   * Told after a pass that brought every load balancer of the node (each LB namespace, the
   * ingress sandbox) and the published-port table to the cluster state as of these stream
   * sequences or newer (the full sync, and a fast-lane pass that covered them all).
   */
  onApplied?: (seqs: AppliedSeqs) => void;
  log: Logger;
}

/**
 * kube-proxy's shape: mirror changes only request a sync; the runner coalesces them, forces a
 * full resync every few seconds (restoring anything changed by hand) and retries failures; each
 * sync computes the desired data plane as data, then brings every namespace to it.
 */
export class DataplaneReconciler {
  private readonly runner: CoalescingRunner;
  /**
   * The load balancers' own fast lane: a changed backend set reaches every LB namespace the full
   * sync has set up without waiting behind that sync's slower checks (links, peers, addresses:
   * seconds on a busy node) or a task's attach. A replica that died leaves the LBs at once.
   */
  private readonly lbRunner: CoalescingRunner;
  /** The periodic sync and a task's attach touch the same namespaces: one at a time. */
  private readonly lock = new Mutex();
  /** Every write to a load balancer (fast lane or full sync): one at a time. */
  private readonly lbLock = new Mutex();
  /**
   * Per LB namespace, the desired state last applied (as JSON): the fast lane applies only what
   * changed since (the full sync applies every one, restoring hand edits); `lbForce` makes its
   * next pass apply all (an IPVS drain ended: same desired state, a real to delete).
   */
  private readonly lbApplied = new Map<string, string>();
  private lbForce = false;
  /** The published-port rules last applied (as JSON); undefined until a full sync applied them. */
  private publishApplied: string | undefined;
  private readonly gatewayAddrs: GatewayAddresses;
  private recovered = false;
  /** Tasks whose sandbox holds our port table (so a port removed from a service is cleared). */
  private readonly taskPortsApplied = new Set<string>();
  /** Load-balancer namespaces a sync has set up whole (their rules can go first in the next). */
  private readonly lbReady = new Set<string>();
  /** Per overlay, the peers (`peerKey`) its last full sync wrote into the FDB and neighbour table. */
  private readonly peersSynced = new Map<string, Set<string>>();
  private readonly peersLock = new Mutex();
  private readonly attachments = new AttachmentChecks();
  private firstSynced: () => void = () => undefined;
  /**
   * Settles once the first sync has run, whether or not it succeeded (a failed one is retried as
   * usual). Until then the kernel holds what a previous meshd wrote, which may still balance over
   * replicas that are no longer this node's: the first sync replaces every table whole.
   */
  readonly firstSync = new Promise<void>((resolve) => (this.firstSynced = resolve));

  constructor(private readonly opts: DataplaneOptions) {
    const run = async () => {
      try {
        await this.lock.run(() => this.sync());
      } finally {
        this.firstSynced();
      }
    };
    const resyncEveryMs = opts.resyncEveryMs ?? 5_000;
    this.runner = new CoalescingRunner({ name: 'dataplane sync', minIntervalMs: 20, maxIntervalMs: resyncEveryMs, retryMs: 200, log: opts.log, run });
    // Its periodic pass is the full sync's; it runs on changes only.
    this.lbRunner = new CoalescingRunner({ name: 'load-balancer sync', minIntervalMs: 20, maxIntervalMs: 3_600_000, retryMs: 200, log: opts.log, run: () => this.syncReadyLbs() });
    for (const m of stateMirrors(opts.mirrors)) {
      m.onChange(() => {
        this.assignGatewayAddrs();
        this.lbRunner.request();
        this.runner.request();
      });
    }
    opts.applier.onSyncWanted = () => {
      this.lbForce = true;
      this.lbRunner.request();
    };
    this.gatewayAddrs = new GatewayAddresses(opts.gatewaySubnet);
  }

  start(): void {
    this.runner.start();
    this.lbRunner.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.runner.stop(), this.lbRunner.stop()]);
  }

  desired(): DataplaneDesired | undefined {
    const { mirrors } = this.opts;
    const node = mirrors.nodes.get(this.opts.nodeId);
    if (!node) return undefined;
    const networks = mirrors.networks.values();
    const tasks = mirrors.tasks.values();
    const statuses = new Map(mirrors.status.values().map((s) => [s.taskId, s]));
    const endpoints = mirrors.endpoints.values();
    return desiredDataplane({
      node,
      nodes: mirrors.nodes.values(),
      networks,
      services: mirrors.services.values(),
      tasks,
      gatewaySubnet: this.opts.gatewaySubnet,
      gatewayAddrs: this.gatewayAddrs.current(),
      statuses,
      lbaddrs: mirrors.lbaddrs.values(),
      endpoints,
      paths: this.opts.paths,
      vxlanPort: this.opts.vxlanPort(),
      underlayMtu: this.opts.underlayMtu,
    });
  }

  /**
   * Node-local gateway addresses for the sandboxes the mirrors hold now: assigned here, on every
   * state change (once those a previous meshd handed out are recovered), and read by `desired()`
   * as an input, never assigned while the desired state is computed.
   */
  private assignGatewayAddrs(): void {
    if (!this.recovered) return;
    const { mirrors } = this.opts;
    const node = mirrors.nodes.get(this.opts.nodeId);
    if (!node) return;
    const tasks = mirrors.tasks.values();
    const statuses = new Map(mirrors.status.values().map((s) => [s.taskId, s]));
    this.gatewayAddrs.assign([
      ...gatewayOwners({ node, tasks, statuses, endpoints: mirrors.endpoints.values() }),
      ...(routingMeshNeeded({ services: mirrors.services.values(), tasks, statuses, networks: mirrors.networks.values() }) ? [INGRESS_SBOX_GW_KEY] : []),
    ]);
  }

  /** Connects one task's interfaces before its process starts (called by the supervisor). */
  async attachTask(taskId: string): Promise<void> {
    await this.attachSandbox(taskId);
  }

  /**
   * Connects one CNI container's interface and gateway leg (worker/cni/), the same way as a
   * task's; false when its record is not in this node's state yet.
   */
  async attachEndpoint(endpointId: string): Promise<boolean> {
    const wired = await this.attachSandbox(endpointId);
    return wired > 0;
  }

  /**
   * Takes a CNI container's interface (and its gateway leg, unless another endpoint of the same
   * sandbox still uses it) out of its sandbox. Called once its record is gone from this node's
   * state, under the sync's lock: a sync that computed its state before then cannot put it back.
   */
  async detachEndpoint(opts: { endpointId: string; netns: string; ifname: string; keepGateway: boolean }): Promise<void> {
    await this.lock.run(async () => {
      await removeSandboxLinks({ netns: opts.netns, links: opts.keepGateway ? [opts.ifname] : [opts.ifname, GW_TASK_IF] });
      // Wired again, should it come back, not taken for checked.
      this.attachments.forget(opts.endpointId, opts.ifname);
    });
    this.runner.request();
  }

  /** One sandbox's interfaces (task or CNI container) and gateway leg, now; how many interfaces it got. */
  private async attachSandbox(ownerId: string): Promise<number> {
    const wired = await this.lock.run(async () => {
      const d = await this.desiredAfterRecovery();
      if (!d) return 0;
      let wired = 0;
      for (const a of d.attachments.filter((x) => x.ownerId === ownerId)) {
        const o = d.overlays.find((x) => x.networkId === a.networkId)!;
        await ensureOverlay(o);
        if (await ensureAttachment(a)) {
          wired++;
          this.attachments.wired(a);
        }
      }
      await ensureGateway(d.gateway, { onlyLegOf: ownerId });
      await this.opts.onGateway?.(gatewayAddr(d.gateway.subnet));
      // Its published -> target redirect too: other nodes' LBs may send it connections as soon as
      // it reports running, before this node's next sync.
      const ports = d.taskPorts.find((r) => r.taskId === ownerId);
      if (ports) {
        await applyTaskPorts(ports.sandbox, ports);
        this.taskPortsApplied.add(ownerId);
      }
      return wired;
    });
    this.runner.request();
    return wired;
  }

  /** The first computation waits until gateway addresses handed out before a restart are known. */
  private async desiredAfterRecovery(): Promise<DataplaneDesired | undefined> {
    if (!this.recovered) {
      const local = this.opts.mirrors.tasks.values().filter((t) => t.nodeId === this.opts.nodeId);
      const sandboxes = new Map(local.map((t) => [t.id, this.opts.paths.taskNetns(t.id)]));
      sandboxes.set(INGRESS_SBOX_GW_KEY, this.opts.paths.ingressSandbox);
      for (const e of this.opts.mirrors.endpoints.values()) if (e.nodeId === this.opts.nodeId) sandboxes.set(e.id, e.netns);
      await this.gatewayAddrs.recover(sandboxes);
      this.recovered = true;
      this.assignGatewayAddrs();
    }
    return this.desired();
  }

  /** What the mirrors hold now: a pass computed after this applies at least this state. */
  private seenSeqs(): AppliedSeqs {
    return { tasksSeq: this.opts.mirrors.tasks.seenSeq, statusSeq: this.opts.mirrors.status.seenSeq };
  }

  private async sync(): Promise<void> {
    const seqs = this.seenSeqs();
    const d = await this.desiredAfterRecovery();
    if (!d) return;
    // Load balancers are applied here too (a namespace set up or repaired now gets its rules),
    // but never at the same time as the fast lane.
    const applier = { apply: (netns: string, lb: LbDesired) => this.applyLb(netns, lb) };
    if (d.gateway.tasks.length > 0 || d.ingress) {
      await ensureGateway(d.gateway);
      await this.opts.onGateway?.(gatewayAddr(d.gateway.subnet));
    }
    for (const o of d.overlays) {
      await ensureOverlay(o);
      await this.syncPeersOf(o);
      if (o.lb) {
        await ensureLbNamespace({ lb: o.lb, overlayNetns: o.netns, mtu: o.mtu, applier });
        this.lbReady.add(o.lb.netns);
      }
    }
    if (d.ingress) {
      const ov = d.overlays.find((o) => o.networkId === d.ingress!.networkId)!;
      await ensureIngressSandbox({ sbox: d.ingress.sandbox, overlayNetns: ov.netns, mtu: ov.mtu, gateway: d.gateway, applier });
      this.lbReady.add(d.ingress.sandbox.netns);
    }
    await this.attachments.sync(d.attachments);
    const localTaskIds = this.opts.mirrors.tasks.values().filter((t) => t.nodeId === this.opts.nodeId).map((t) => t.id);
    await sweepEndpointLinks(d, { localTaskIds, log: this.opts.log });
    await this.syncTaskPorts(d);
    await this.applyPublish(d.publish);
    await this.removeStale(d);
    if (d.gateway.tasks.length === 0 && !d.ingress) {
      await this.opts.onGateway?.(undefined);
      await removeGateway(this.opts.paths.forwardingMarker);
    }
    this.opts.onApplied?.(seqs);
  }

  /**
   * The fast lane: applies the rules of every load-balancer namespace a full sync has set up
   * whole. One that fails is left to the full sync, which sets its namespace up again.
   */
  private async syncReadyLbs(): Promise<void> {
    // Until the first full sync has recovered the gateway addresses, nothing is set up.
    if (!this.recovered) return;
    const seqs = this.seenSeqs();
    const d = this.desired();
    if (!d) return;
    const force = this.lbForce;
    this.lbForce = false;
    await this.syncNewPeers(d.overlays);
    // Each LB with its overlay's peers: a remote replica with no way to it yet is left out.
    const lbs = [
      ...d.overlays.flatMap((o) => (o.lb ? [{ netns: o.lb.netns, lb: o.lb.lb, networkId: o.networkId, peers: o.peers }] : [])),
      ...(d.ingress ? [{ netns: d.ingress.sandbox.netns, lb: d.ingress.sandbox.lb, networkId: d.ingress.networkId, peers: d.overlays.find((o) => o.networkId === d.ingress!.networkId)?.peers ?? [] }] : []),
    ];
    // Whether this pass brings every LB of the node up to date (one not set up whole yet is the full sync's).
    let whole = lbs.every((x) => this.lbReady.has(x.netns)) && this.publishApplied !== undefined;
    for (const x of lbs.filter((l) => this.lbReady.has(l.netns))) {
      const unsynced = unsyncedPeers(x.peers, this.peersSynced.get(x.networkId));
      // Not everything this state selects is in: the full sync (peers first) applies and reports it.
      if (unsynced.size > 0) {
        whole = false;
        this.runner.request();
      }
      const lb = { netns: x.netns, lb: withoutBackends(x.lb, unsynced) };
      if (!force && this.lbApplied.get(lb.netns) === JSON.stringify(lb.lb)) continue;
      try {
        await this.applyLb(lb.netns, lb.lb);
      } catch (err) {
        whole = false;
        this.lbReady.delete(lb.netns);
        this.opts.log.debug('load balancer not applied ahead of its namespace checks', { netns: lb.netns, err: String(err) });
        this.runner.request();
      }
    }
    // A host-mode port's local replicas changed: its DNAT too (only once the full sync set the node up).
    if (whole && this.publishApplied !== JSON.stringify(d.publish)) {
      try {
        await this.applyPublish(d.publish);
      } catch (err) {
        whole = false;
        this.opts.log.debug('published ports not applied ahead of the full sync', { err: String(err) });
        this.runner.request();
      }
    }
    if (whole) this.opts.onApplied?.(seqs);
  }

  /** An overlay's FDB and neighbour entries (one writer at a time: both lanes write them). */
  private async syncPeersOf(o: OverlayDesired): Promise<void> {
    await this.peersLock.run(async () => {
      await syncPeers(o);
      this.peersSynced.set(o.networkId, new Set(o.peers.map(peerKey)));
    });
  }

  /**
   * The fast lane's first step: a replica new on another node gets its FDB and neighbour entries
   * (a few `bridge`/`ip` commands) on every overlay a full sync has set up, so the LBs can select
   * it now rather than after the next full sync. One that fails is left to the full sync.
   */
  private async syncNewPeers(overlays: readonly OverlayDesired[]): Promise<void> {
    for (const o of overlays) {
      const synced = this.peersSynced.get(o.networkId);
      if (!synced || unsyncedPeers(o.peers, synced).size === 0) continue;
      try {
        await this.syncPeersOf(o);
      } catch (err) {
        this.opts.log.debug('peers not synced ahead of the full sync', { netns: o.netns, err: String(err) });
        this.runner.request();
      }
    }
  }

  /** The node's published-port table, under the LB lock, from the state as it is now (as applyLb). */
  private async applyPublish(computed: PublishRule[]): Promise<void> {
    await this.lbLock.run(async () => {
      const rules = (this.recovered ? this.desired()?.publish : undefined) ?? computed;
      this.publishApplied = undefined;
      await applyPublishRules(rules);
      this.publishApplied = JSON.stringify(rules);
    });
  }

  /**
   * One LB namespace's rules, under the LB lock; remembers what it applied. Always the state as
   * it is now, never the caller's copy: the full sync computed its copy before seconds of other
   * work, and writing it after the fast lane wrote a newer one would undo it (an IPVS real seen
   * going 1 -> 0 -> 1 -> 0 in the VM lane). A namespace no longer desired is left to removeStale.
   */
  private async applyLb(netns: string, computed: LbDesired): Promise<void> {
    await this.lbLock.run(async () => {
      const lb = this.recovered ? this.currentLb(netns) : computed;
      if (!lb) return;
      this.lbApplied.delete(netns);
      await this.opts.applier.apply(netns, lb);
      this.lbApplied.set(netns, JSON.stringify(lb));
    });
  }

  /** The desired rules of one LB namespace from the mirrors as they are now. */
  private currentLb(netns: string): LbDesired | undefined {
    const d = this.desired();
    if (!d) return undefined;
    if (d.ingress?.sandbox.netns === netns) return d.ingress.sandbox.lb;
    return d.overlays.find((o) => o.lb?.netns === netns)?.lb?.lb;
  }

  /** The task whose gateway leg has this address (how the DNS server knows who asks). */
  taskByGatewayAddr(addr: string): string | undefined {
    return this.gatewayAddrs.taskOf(addr);
  }

  /** Port rules in every local sandbox (ports removed from a service are removed here too). */
  private async syncTaskPorts(d: DataplaneDesired): Promise<void> {
    const local = this.opts.mirrors.tasks.values().filter((t) => t.nodeId === this.opts.nodeId && t.desiredState === 'running');
    for (const t of local) {
      const sandbox = this.opts.paths.taskNetns(t.id);
      const rules = d.taskPorts.find((r) => r.taskId === t.id);
      if (!rules && !this.taskPortsApplied.has(t.id)) continue;
      if (!(await isNetnsMounted(sandbox))) continue;
      await applyTaskPorts(sandbox, rules);
      if (rules) this.taskPortsApplied.add(t.id);
      else this.taskPortsApplied.delete(t.id);
    }
    // A task that left took its sandbox (and rules) with it: forget it, so the set stays bounded.
    const live = new Set(local.map((t) => t.id));
    for (const id of [...this.taskPortsApplied]) if (!live.has(id)) this.taskPortsApplied.delete(id);
  }

  /** Overlay and LB namespaces this node no longer needs (the last local task of the network left). */
  private async removeStale(d: DataplaneDesired): Promise<void> {
    const keep = new Set(d.overlays.flatMap((o) => [o.netns, ...(o.lb ? [o.lb.netns] : [])]));
    if (d.ingress) keep.add(d.ingress.sandbox.netns);
    // An overlay made again later starts with no peers.
    for (const id of [...this.peersSynced.keys()]) if (!d.overlays.some((o) => o.networkId === id)) this.peersSynced.delete(id);
    let names: string[] = [];
    try {
      names = await readdir(this.opts.paths.netnsDir);
    } catch {
      return;
    }
    for (const n of names) {
      const path = join(this.opts.paths.netnsDir, n);
      if (!/^(ov_|lb_|ingress_sbox$)/.test(n) || keep.has(path)) continue;
      this.opts.log.info('removing namespace no longer needed', { netns: n });
      // Not while the fast lane writes into it.
      await this.lbLock.run(async () => {
        this.opts.applier.forget(path);
        this.lbReady.delete(path);
        this.lbApplied.delete(path);
        // LB first: its veth is a port of the overlay bridge.
        await removeNetns(path);
      });
    }
  }
}
