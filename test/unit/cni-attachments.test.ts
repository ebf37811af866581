import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { endpointIdOf } from '../../core/ids.js';
import { CniAttachments, endpointNameOf, type AttachRequest, type CniAttachmentsDeps } from '../../worker/cni/attachments.js';
import { createLogger } from '../../core/log.js';
import type { EndpointRecord, NetworkRecord } from '../../core/model.js';
import type { MeshdCniRequest } from '../../cni/protocol.js';
import { CniError } from '../../worker/cni/errors.js';

/**
 * The attachment logic with the managers and the kernel replaced (a unit test of the ordering and
 * the undo; the real thing runs in test/e2e/cni.test.ts): a fake mirror that the fake managers
 * write into, as the real managers' KV writes reach the node's mirror.
 */
class FakeMirror<T> {
  readonly map = new Map<string, T>();
  private readonly fns = new Set<(c: { key: string; value: T | undefined }) => void>();
  get(key: string) { return this.map.get(key); }
  values() { return [...this.map.values()]; }
  onChange(fn: (c: { key: string; value: T | undefined }) => void) { this.fns.add(fn); return () => void this.fns.delete(fn); }
  set(key: string, value: T | undefined) {
    if (value === undefined) this.map.delete(key);
    else this.map.set(key, value);
    for (const fn of this.fns) fn({ key, value });
  }
}

const idOf = (containerId: string) => endpointIdOf(containerId, 'eth0', 'net1');
const NET: NetworkRecord = { id: 'net1', name: 's_app', stack: 's', driver: 'overlay', subnet: '10.0.1.0/24', gateway: '10.0.1.1', vni: 4100, internal: false, attachable: true, ingress: false, createdAt: '' };

function setup(opts: { wireFails?: boolean } = {}) {
  const networks = new FakeMirror<NetworkRecord>();
  networks.set(NET.id, NET);
  const endpoints = new FakeMirror<EndpointRecord>();
  const calls: string[] = [];
  let next = 7;
  const deps: CniAttachmentsDeps = {
    nodeId: 'n1',
    mirrors: { networks: networks as never, endpoints: endpoints as never },
    dataplane: {
      desired: () => undefined,
      attachEndpoint: async (id) => {
        calls.push(`wire ${id}`);
        if (opts.wireFails) throw new Error('veth: file exists');
        return true;
      },
      detachEndpoint: async (o) => void calls.push(`unwire ${o.ifname}`),
    },
    managers: {
      attach: async (req: AttachRequest) => {
        calls.push(`attach ${req.containerId}`);
        const e: EndpointRecord = { id: idOf(req.containerId), networkId: NET.id, nodeId: 'n1', containerId: req.containerId, ifname: req.ifname, name: req.name, netns: req.netns, addr: `10.0.1.${next++}/24`, createdAt: '' };
        setTimeout(() => endpoints.set(`n1.${e.id}`, e), 5);
        return { endpoint: e, created: true };
      },
      detach: async (id: string) => {
        calls.push(`detach ${id}`);
        const had = endpoints.get(`n1.${id}`) !== undefined;
        setTimeout(() => endpoints.set(`n1.${id}`, undefined), 5);
        return had;
      },
    },
    connected: () => true,
    log: createLogger({ level: 'error' }),
    stateTimeoutMs: 1_000,
  };
  return { cni: new CniAttachments(deps), calls, endpoints };
}

/** A sandbox: a process in a network namespace of its own (a runtime's pause container). */
let sandboxProc: ChildProcess;
let sandboxNetns: string;
beforeAll(async () => {
  sandboxProc = spawn('unshare', ['--net', 'sleep', '300'], { stdio: 'ignore' });
  await once(sandboxProc, 'spawn');
  sandboxNetns = `/proc/${sandboxProc.pid}/ns/net`;
});
afterAll(async () => {
  sandboxProc.kill('SIGKILL');
  if (sandboxProc.exitCode === null && sandboxProc.signalCode === null) await once(sandboxProc, 'exit');
});

const req = (command: MeshdCniRequest['command'], containerId: string, netns?: string): MeshdCniRequest => ({
  command, containerId, netns: netns ?? sandboxNetns, ifname: 'eth0', args: {}, config: { cniVersion: '1.0.0', name: 's_app', type: 'meshd', socket: '/s', network: 's_app' },
});

describe('CNI attachments (meshd side)', () => {
  it('undoes a failed ADD: the registration and address go back, the interface is taken out', async () => {
    const { cni, calls, endpoints } = setup({ wireFails: true });
    const err = await cni.handle(req('ADD', 'c1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).body).toMatchObject({ code: 5, msg: expect.stringContaining('veth: file exists') });
    expect(calls).toEqual(['attach c1', `wire ${idOf('c1')}`, `detach ${idOf('c1')}`, 'unwire eth0']);
    expect(endpoints.values()).toEqual([]);
  });

  it('DEL of what this node never saw succeeds, after asking the managers by the id an ADD would have had (a lost ADD reply)', async () => {
    const { cni, calls } = setup();
    expect(await cni.handle(req('DEL', 'ghost', ''))).toEqual({ ok: true });
    expect(calls).toEqual([`detach ${idOf('ghost')}`]);
  });

  it("refuses the node's own namespace and the gateway leg's name before asking anyone", async () => {
    const { cni, calls } = setup();
    await expect(cni.handle(req('ADD', 'c4', '/proc/self/ns/net'))).rejects.toMatchObject({ body: { code: 4 } });
    await expect(cni.handle(req('ADD', 'c4', `/proc/${process.pid}/ns/net`))).rejects.toMatchObject({ body: { code: 4, msg: expect.stringContaining("node's own network namespace") } });
    await expect(cni.handle({ ...req('ADD', 'c4'), ifname: 'gw0' })).rejects.toMatchObject({ body: { code: 4, msg: expect.stringContaining('gateway leg') } });
    expect(calls).toEqual([]);
  });

  it('runs the commands of one container one at a time, in order; an ADD then a DEL leave nothing', async () => {
    const { cni, calls, endpoints } = setup();
    const add = cni.handle(req('ADD', 'c2')).catch(() => 'add failed (no data plane result here)');
    const del = cni.handle(req('DEL', 'c2'));
    await Promise.all([add, del]);
    // ADD fails at its result here (no data plane) and undoes itself; the DEL then finds nothing
    // and asks the managers once more by id, which is idempotent.
    expect(calls).toEqual(['attach c2', `wire ${idOf('c2')}`, `detach ${idOf('c2')}`, 'unwire eth0', `detach ${idOf('c2')}`]);
    expect(endpoints.values()).toEqual([]);
  });

  it('refuses an ADD on a network that is unknown or not attachable, before asking anyone', async () => {
    const { cni, calls } = setup();
    const unknown = { ...req('ADD', 'c3'), config: { ...req('ADD', 'c3').config, network: 'nope' } };
    await expect(cni.handle(unknown)).rejects.toMatchObject({ body: { code: 100, msg: 'network nope not found' } });
    expect(calls).toEqual([]);
  });

  it('names the endpoint by K8S_POD_NAME when it is a DNS name, else by the container id', () => {
    expect(endpointNameOf({ args: { K8S_POD_NAME: 'web-1' }, containerId: 'abcdef0123456789' })).toBe('web-1');
    expect(endpointNameOf({ args: { K8S_POD_NAME: 'not a name' }, containerId: 'abcdef0123456789' })).toBe('abcdef012345');
  });
});
