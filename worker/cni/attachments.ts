/**
 * The CNI commands, served by the node's meshd (issue 15; the plugin in cni/ only forwards).
 * ADD asks the managers for an address and a registration (manager/endpoints.ts), waits until
 * this node's state holds it, then wires the container through the reconciler's attach, the same
 * code a task's sandbox goes through; DEL is the reverse and idempotent. Every command on one
 * (container, interface) runs one at a time; different containers run concurrently.
 */
import type { EndpointRecord, NetworkRecord } from '../../core/model.js';
import { endpointIdOf } from '../../core/ids.js';
import { addrOf, macOf } from '../../core/ipnet.js';
import type { Logger } from '../../core/log.js';
import { Mutex } from '../../core/mutex.js';
import { netnsExists, netnsIdentity } from '../../core/netns.js';
import type { KvMirror } from '../../core/state/mirror.js';
import { ENDPOINT_NAME } from '../../core/wire/schemas.js';
import { CNI_ERRORS, type CniResult, type MeshdCniRequest, type MeshdCniResponse } from '../../cni/protocol.js';
import { findNetwork, refusalOf } from '../../manager/endpoints.js';
import type { DataplaneDesired } from '../dataplane/desired.js';
import { addresses, links } from '../dataplane/observe.js';
import { gatewayAddr, GW_TASK_IF } from '../dataplane/gateway.js';
import { cniError, CniError, fromManagerError } from './errors.js';
import { run } from '../../core/exec.js';

export interface AttachRequest {
  network: string;
  containerId: string;
  ifname: string;
  name: string;
  netns: string;
}

export interface CniAttachmentsDeps {
  nodeId: string;
  mirrors: { networks: KvMirror<NetworkRecord>; endpoints: KvMirror<EndpointRecord> };
  dataplane: {
    desired(): DataplaneDesired | undefined;
    attachEndpoint(id: string): Promise<boolean>;
    detachEndpoint(opts: { endpointId: string; netns: string; ifname: string; keepGateway: boolean }): Promise<void>;
  };
  /** The managers' side (mesh.endpoint.<node>.*); `created`: false when the endpoint was already registered (a repeated ADD). */
  managers: { attach(req: AttachRequest): Promise<{ endpoint: EndpointRecord; created: boolean }>; detach(id: string): Promise<boolean> };
  /** Whether meshd is connected to the cluster now (STATUS). */
  connected: () => boolean;
  log: Logger;
  /** How long a registration may take to reach this node's copy of the state (default 10 s). */
  stateTimeoutMs?: number;
}

/**
 * A DNS name for the container: K8S_POD_NAME (podman and Kubernetes runtimes pass it) when it is
 * one label (no dot: a container must not answer for `api.github.com` on the network), else the
 * container id's first 12 characters.
 */
export function endpointNameOf(req: Pick<MeshdCniRequest, 'args' | 'containerId'>): string {
  const candidate = req.args.K8S_POD_NAME;
  if (candidate && ENDPOINT_NAME.test(candidate)) return candidate;
  return (req.containerId ?? '').slice(0, 12);
}

export class CniAttachments {
  private readonly locks = new Map<string, { mutex: Mutex; users: number }>();

  /** This node's endpoints as last seen: what a removal by the managers (stack rm, node rm) takes out. */
  private readonly known = new Map<string, EndpointRecord>();

  constructor(private readonly deps: CniAttachmentsDeps) {}

  /**
   * Follows this node's endpoints: one whose registration the managers removed (its network or
   * node went) has its interface and gateway leg taken out of the container too. Returns the
   * unsubscribe function.
   */
  follow(): () => void {
    for (const e of this.local()) this.known.set(e.id, e);
    return this.deps.mirrors.endpoints.onChange((c) => {
      const id = c.key.split('.')[1] ?? '';
      if (!c.key.startsWith(`${this.deps.nodeId}.`)) return;
      if (c.value) return void this.known.set(id, c.value);
      const gone = this.known.get(id);
      this.known.delete(id);
      if (!gone) return;
      const keepGateway = this.local().some((x) => x.netns === gone.netns);
      void this.locked({ containerId: gone.containerId, ifname: gone.ifname }, () => this.deps.dataplane.detachEndpoint({ endpointId: gone.id, netns: gone.netns, ifname: gone.ifname, keepGateway })).catch((err) =>
        this.deps.log.warn('could not take a removed attachment out of its container', { container: gone.containerId.slice(0, 12), err: String(err) }),
      );
    });
  }

  async handle(req: MeshdCniRequest): Promise<MeshdCniResponse> {
    switch (req.command) {
      case 'ADD':
        return { result: await this.locked(req, () => this.add(req)) };
      case 'DEL':
        await this.locked(req, () => this.del(req));
        return { ok: true };
      case 'CHECK':
        await this.locked(req, () => this.check(req));
        return { ok: true };
      case 'STATUS':
        this.status(req);
        return { ok: true };
      case 'GC':
        await this.gc(req);
        return { ok: true };
    }
  }

  /** Endpoints on this node whose sandbox is gone without a DEL (the runtime crashed): detached. */
  async collect(): Promise<number> {
    let collected = 0;
    for (const e of this.local()) {
      if (await netnsExists(e.netns)) continue;
      await this.locked({ containerId: e.containerId, ifname: e.ifname }, async () => {
        // Still the attachment seen above (not one a DEL and a new ADD made meanwhile), still without its namespace.
        if (!this.sameRecord(e) || (await netnsExists(e.netns))) return;
        this.deps.log.info('collecting a container attachment whose namespace is gone', { container: e.containerId.slice(0, 12), netns: e.netns });
        await this.remove(e);
        collected++;
      });
    }
    return collected;
  }

  private async add(req: MeshdCniRequest): Promise<CniResult> {
    const net = this.network(req.config.network);
    const containerId = required(req.containerId, 'CNI_CONTAINERID');
    const ifname = required(req.ifname, 'CNI_IFNAME');
    const netns = required(req.netns, 'CNI_NETNS');
    await this.checkSandbox({ netns, ifname, containerId, networkId: net.id });
    let endpoint: EndpointRecord;
    let created: boolean;
    try {
      ({ endpoint, created } = await this.deps.managers.attach({ network: net.id, containerId, ifname, name: endpointNameOf(req), netns }));
    } catch (err) {
      throw fromManagerError(err);
    }
    try {
      await this.untilState(endpoint.id, true);
      if (!(await this.deps.dataplane.attachEndpoint(endpoint.id))) throw cniError(CNI_ERRORS.ioFailure, `could not wire ${ifname} into ${netns}`);
      return await this.resultOf(endpoint, req.config.cniVersion);
    } catch (err) {
      // A failed ADD undoes all it did: the interface, the registration and the address. A
      // repeated ADD of an endpoint that was already there leaves it to the runtime's DEL.
      if (created) await this.remove(endpoint).catch((undo) => this.deps.log.warn('could not undo a failed CNI ADD', { container: containerId.slice(0, 12), err: String(undo) }));
      throw err instanceof CniError ? err : cniError(CNI_ERRORS.ioFailure, `attaching ${ifname} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * What ADD refuses before anything is allocated: the node's own namespace (a mistyped
   * CNI_NETNS must not cost the node its interfaces and default route), the gateway leg's name,
   * an interface of that name made by someone else, and a second meshd network in one sandbox
   * (they would share its one gateway leg).
   */
  private async checkSandbox(opts: { netns: string; ifname: string; containerId: string; networkId: string }): Promise<void> {
    const { netns, ifname, containerId, networkId } = opts;
    const invalid = (msg: string) => cniError(CNI_ERRORS.invalidEnvironment, msg);
    if (!(await netnsExists(netns))) throw invalid(`CNI_NETNS ${netns} is not a network namespace`);
    const id = await netnsIdentity(netns);
    if (id === (await netnsIdentity('/proc/self/ns/net')) || id === (await netnsIdentity('/proc/1/ns/net'))) throw invalid(`CNI_NETNS ${netns} is the node's own network namespace`);
    if (ifname === GW_TASK_IF) throw invalid(`CNI_IFNAME ${ifname} is the name of meshd's gateway leg in the container; choose another`);
    const mine = this.local().find((e) => e.containerId === containerId && e.ifname === ifname && e.networkId === networkId);
    const other = this.local().find((e) => e !== mine && e.netns === netns);
    if (other) throw invalid(`the sandbox ${netns} is already on meshd network ${this.networkName(other.networkId)} (${other.ifname}); a container joins one meshd network`);
    if (!mine && (await links(netns)).has(ifname)) throw invalid(`CNI_IFNAME ${ifname} already exists in ${netns}`);
  }

  private networkName(id: string): string {
    return this.deps.mirrors.networks.values().find((n) => n.id === id)?.name ?? id;
  }

  /** Whether the mirror still holds exactly this record (same sandbox, same creation). */
  private sameRecord(e: EndpointRecord): boolean {
    const now = this.deps.mirrors.endpoints.get(this.key(e.id));
    return now !== undefined && now.netns === e.netns && now.createdAt === e.createdAt;
  }

  private async del(req: MeshdCniRequest): Promise<void> {
    const containerId = required(req.containerId, 'CNI_CONTAINERID');
    const ifname = req.ifname;
    const net = findNetwork(this.deps.mirrors.networks.values(), req.config.network);
    const mine = this.local().filter((e) => e.containerId === containerId && (ifname === undefined || ifname === '' || e.ifname === ifname) && (!net || e.networkId === net.id));
    for (const e of mine) await this.remove(e);
    // An ADD whose reply was lost (a timeout) may have been registered without this node's
    // state showing it yet: ask the managers by the id that ADD would have, so nothing stays.
    if (mine.length === 0 && net && ifname) await this.deps.managers.detach(endpointIdOf(containerId, ifname, net.id));
  }

  private async check(req: MeshdCniRequest): Promise<void> {
    const net = this.network(req.config.network);
    const containerId = required(req.containerId, 'CNI_CONTAINERID');
    const ifname = required(req.ifname, 'CNI_IFNAME');
    const netns = required(req.netns, 'CNI_NETNS');
    const e = this.deps.mirrors.endpoints.get(this.key(endpointIdOf(containerId, ifname, net.id)));
    if (!e) throw cniError(CNI_ERRORS.unknownContainer, `container ${containerId.slice(0, 12)} has no attachment ${ifname} on ${net.name}`);
    const fail = (msg: string) => cniError(CNI_ERRORS.checkFailed, msg);
    if (!(await netnsExists(netns))) throw fail(`CNI_NETNS ${netns} is not a network namespace`);
    const have = await links(netns);
    const dev = have.get(ifname);
    if (!dev) throw fail(`${ifname} is missing in ${netns}`);
    if (dev.address !== macOf(addrOf(e.addr))) throw fail(`${ifname} has MAC ${dev.address}, not ${macOf(addrOf(e.addr))}`);
    if (!(await addresses(netns, ifname)).includes(e.addr)) throw fail(`${ifname} does not hold ${e.addr}`);
    if (!net.internal) {
      if (!have.has(GW_TASK_IF)) throw fail(`the gateway leg ${GW_TASK_IF} is missing in ${netns}`);
      const routes = (await run(['ip', '-4', 'route', 'show', 'default'], { netns })).stdout;
      if (!new RegExp(`dev ${GW_TASK_IF}\\b`).test(routes)) throw fail(`no default route through ${GW_TASK_IF} in ${netns}`);
    }
  }

  private status(req: MeshdCniRequest): void {
    const unavailable = (msg: string) => cniError(CNI_ERRORS.pluginNotAvailable, msg);
    if (!this.deps.connected()) throw unavailable('meshd is not connected to its cluster');
    const net = findNetwork(this.deps.mirrors.networks.values(), req.config.network);
    if (!net) throw unavailable(`network ${req.config.network} not found`);
    const refusal = refusalOf(net);
    if (refusal) throw unavailable(refusal);
  }

  private async gc(req: MeshdCniRequest): Promise<void> {
    const net = findNetwork(this.deps.mirrors.networks.values(), req.config.network);
    if (!net) return;
    const valid = req.config['cni.dev/valid-attachments'] ?? [];
    const keep = new Set(valid.map((v) => `${v.containerID}\0${v.ifname}`));
    for (const e of this.local().filter((x) => x.networkId === net.id && !keep.has(`${x.containerId}\0${x.ifname}`))) {
      await this.locked({ containerId: e.containerId, ifname: e.ifname }, async () => {
        if (this.sameRecord(e)) await this.remove(e);
      });
    }
  }

  /** Interface and gateway leg out of the sandbox, then the registration and address. */
  private async remove(e: EndpointRecord): Promise<void> {
    await this.deps.managers.detach(e.id);
    await this.untilState(e.id, false);
    const sharesSandbox = this.local().some((x) => x.id !== e.id && x.netns === e.netns);
    await this.deps.dataplane.detachEndpoint({ endpointId: e.id, netns: e.netns, ifname: e.ifname, keepGateway: sharesSandbox });
  }

  private async resultOf(e: EndpointRecord, cniVersion: string): Promise<CniResult> {
    const d = this.deps.dataplane.desired();
    const att = d?.attachments.find((a) => a.ownerId === e.id);
    const leg = d?.gateway.tasks.find((t) => t.taskId === e.id);
    if (!d || !att || !leg) throw cniError(CNI_ERRORS.tryAgainLater, `the attachment of ${e.containerId.slice(0, 12)} left this node's state while it was being wired`);
    const gateway = gatewayAddr(d.gateway.subnet);
    const gwLeg = (await links(e.netns)).get(GW_TASK_IF);
    return {
      cniVersion,
      interfaces: [
        { name: e.ifname, mac: att.mac, mtu: att.mtu, sandbox: e.netns },
        { name: GW_TASK_IF, mac: gwLeg?.address ?? '', mtu: d.gateway.mtu, sandbox: e.netns },
      ],
      ips: [
        { address: e.addr, interface: 0 },
        { address: leg.addr, gateway, interface: 1 },
      ],
      routes: leg.isolated ? [] : [{ dst: '0.0.0.0/0', gw: gateway }],
      dns: { nameservers: [gateway], options: ['ndots:0'] },
    };
  }

  private network(nameOrId: string): NetworkRecord {
    const net = findNetwork(this.deps.mirrors.networks.values(), nameOrId);
    if (!net) throw cniError(CNI_ERRORS.unknownNetwork, `network ${nameOrId} not found`);
    const refusal = refusalOf(net);
    if (refusal) throw cniError(CNI_ERRORS.notAttachable, refusal);
    return net;
  }

  private local(): EndpointRecord[] {
    return this.deps.mirrors.endpoints.values().filter((e) => e.nodeId === this.deps.nodeId);
  }

  private key(endpointId: string): string {
    return `${this.deps.nodeId}.${endpointId}`;
  }

  /** Waits until this node's copy of the state holds (or no longer holds) the endpoint. */
  private async untilState(endpointId: string, present: boolean): Promise<void> {
    const key = this.key(endpointId);
    const has = () => (this.deps.mirrors.endpoints.get(key) !== undefined) === present;
    if (has()) return;
    const timeoutMs = this.deps.stateTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(cniError(CNI_ERRORS.tryAgainLater, `the attachment ${endpointId} did not ${present ? 'reach' : 'leave'} this node's state within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.deps.mirrors.endpoints.onChange(() => {
        if (!has()) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  /** One command at a time per (container, interface). */
  private async locked<T>(req: Pick<MeshdCniRequest, 'containerId' | 'ifname'>, fn: () => Promise<T>): Promise<T> {
    const key = `${req.containerId ?? ''}\0${req.ifname ?? ''}`;
    const slot = this.locks.get(key) ?? { mutex: new Mutex(), users: 0 };
    this.locks.set(key, slot);
    slot.users++;
    try {
      return await slot.mutex.run(fn);
    } finally {
      if (--slot.users === 0) this.locks.delete(key);
    }
  }
}

function required(value: string | undefined, name: string): string {
  if (!value) throw cniError(CNI_ERRORS.invalidEnvironment, `${name} is required`);
  return value;
}
