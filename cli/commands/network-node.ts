import { addrOf, macOf } from '../../core/ipnet.js';
import { parseArgs } from 'node:util';
import { ValidationError } from '../../core/errors.js';
import { request } from '../../core/rpc.js';
import { SUBJECTS } from '../../core/names.js';
import type { NodeAvailability, NodeRecord } from '../../core/model.js';
import { availabilityOf } from '../../manager/node-update.js';
import { findOne, snapshot } from '../cluster-view.js';
import { jsonLines, table } from '../format.js';
import type { CommandContext } from './context.js';
import { formatOf } from './service.js';

export async function networkLs(ctx: CommandContext, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { format: { type: 'string' } } });
  const snap = await snapshot(ctx.buckets);
  const rows = snap.networks.map((n) => ({ ID: n.id.slice(0, 12), Name: n.name, Driver: n.driver, Scope: 'swarm', Subnet: n.subnet, VNI: String(n.vni) }));
  if (formatOf(values.format) === 'json') ctx.out(jsonLines(rows));
  else ctx.out(table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET'], rows.map((r) => [r.ID, r.Name, r.Driver, r.Scope, r.Subnet])));
  return 0;
}

export async function networkInspect(ctx: CommandContext, args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, options: { format: { type: 'string' } }, allowPositionals: true });
  if (positionals.length === 0) throw new ValidationError(['network inspect: NETWORK argument is required']);
  const snap = await snapshot(ctx.buckets);
  const out = positionals.map((ref) => {
    const n = findOne(snap.networks, ref, (x) => [x.name], 'network');
    return {
      Name: n.name,
      Id: n.id,
      Created: n.createdAt,
      Scope: 'swarm',
      Driver: n.driver,
      Internal: n.internal,
      Attachable: n.attachable,
      Ingress: n.ingress,
      IPAM: { Driver: 'default', Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
      Options: { 'com.docker.network.driver.overlay.vxlanid_list': String(n.vni) },
      Labels: n.stack ? { 'com.docker.stack.namespace': n.stack } : {},
      Services: snap.services.filter((s) => s.networks.some((a) => a.networkId === n.id)).map((s) => s.name),
      // Containers of other runtimes (the CNI plugin), as Docker lists a network's containers.
      Containers: Object.fromEntries(
        snap.endpoints
          .filter((e) => e.networkId === n.id)
          .map((e) => [e.containerId, { Name: e.name, EndpointID: e.id, MacAddress: macOf(addrOf(e.addr)), IPv4Address: e.addr, Node: snap.nodes.find((x) => x.id === e.nodeId)?.hostname ?? e.nodeId, Interface: e.ifname }]),
      ),
    };
  });
  ctx.out(JSON.stringify(out, null, 4) + '\n');
  return 0;
}

export async function nodeLs(ctx: CommandContext, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { format: { type: 'string' } } });
  const snap = await snapshot(ctx.buckets);
  const rows = snap.nodes.map((n) => ({
    ID: n.id.slice(0, 12),
    Hostname: n.hostname,
    Role: n.role,
    Status: n.status === 'ready' ? 'Ready' : 'Down',
    Availability: capitalized(availability(n)),
    ManagerStatus: n.role === 'manager' ? 'Reachable' : '',
    Addr: n.addr,
    Labels: n.labels,
    EngineLabels: n.engineLabels ?? {},
  }));
  if (formatOf(values.format) === 'json') ctx.out(jsonLines(rows));
  else ctx.out(table(['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'ROLE', 'ADDRESS'], rows.map((r) => [r.ID, r.Hostname, r.Status, r.Availability, r.Role, r.Addr])));
  return 0;
}

export async function nodeInspect(ctx: CommandContext, args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, options: { format: { type: 'string' } }, allowPositionals: true });
  if (positionals.length === 0) throw new ValidationError(['node inspect: NODE argument is required']);
  const snap = await snapshot(ctx.buckets);
  const out = positionals.map((ref) => {
    const n = findOne(snap.nodes, ref, (x) => [x.hostname], 'node');
    return {
      ID: n.id,
      CreatedAt: n.joinedAt,
      UpdatedAt: n.updatedAt,
      Spec: { Labels: n.labels, Role: n.role, Availability: availability(n) },
      Description: { Hostname: n.hostname, Engine: { Labels: n.engineLabels ?? {} }, ...(n.resources && { Resources: { NanoCPUs: n.resources.nanoCpus, MemoryBytes: n.resources.memoryBytes } }) },
      Status: { State: n.status, Message: n.statusMessage, Addr: n.addr },
      Tasks: snap.tasks.filter((t) => t.nodeId === n.id && t.desiredState === 'running').map((t) => t.name),
    };
  });
  ctx.out(JSON.stringify(out, null, 4) + '\n');
  return 0;
}

/** What `node ls` and `node inspect` show: `node update --availability`; a node that runs no tasks (`meshd --role manager`) as drain. */
function availability(n: NodeRecord): NodeAvailability {
  return n.runsTasks ? (n.availability ?? 'active') : 'drain';
}

function capitalized(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Docker's `--label-add K=V` / `--label-add K` (empty value) and `--label-rm K` into a request. */
export function labelFlags(add: readonly string[], rm: readonly string[]): { add: Record<string, string>; rm: string[] } {
  const out: Record<string, string> = {};
  for (const a of add) {
    const i = a.indexOf('=');
    const key = i < 0 ? a : a.slice(0, i);
    if (key === '') throw new ValidationError([`--label-add: expected KEY=VALUE, got ${JSON.stringify(a)}`]);
    out[key] = i < 0 ? '' : a.slice(i + 1);
  }
  return { add: out, rm: [...rm] };
}

export async function nodeUpdate(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { 'label-add': { type: 'string', multiple: true }, 'label-rm': { type: 'string', multiple: true }, availability: { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new ValidationError(['node update: exactly one NODE argument is required']);
  const { add, rm } = labelFlags(values['label-add'] ?? [], values['label-rm'] ?? []);
  const availability = values.availability === undefined ? undefined : availabilityOf(values.availability);
  const node = await request<NodeRecord>(ctx.nc, SUBJECTS.api('node.update'), { node: positionals[0], add, rm, ...(availability && { availability }) }, 10_000);
  ctx.out(`${node.id}\n`);
  return 0;
}

/** `node rm [--force] NODE...`: each node removed in turn; a refusal is reported and the rest go on (as docker does). */
export async function nodeRm(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { force: { type: 'boolean', short: 'f' } }, allowPositionals: true });
  if (positionals.length === 0) throw new ValidationError(['node rm: at least one NODE argument is required']);
  let failed = 0;
  for (const ref of positionals) {
    try {
      const removed = await request<{ id: string; hostname: string }>(ctx.nc, SUBJECTS.api('node.rm'), { node: ref, force: values.force ?? false }, 10_000);
      ctx.out(`${removed.hostname}\n`);
    } catch (err) {
      failed++;
      ctx.err(`meshctl: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}
