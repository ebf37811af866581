import { describe, expect, it } from 'vitest';
import { desiredDataplane, gatewayOwners, type DataplaneInput } from '../../worker/dataplane/desired.js';
import { RunPaths } from '../../worker/paths.js';
import type { EndpointRecord, NetworkRecord, NodeRecord } from '../../core/model.js';

/** A CNI container is wired like a task: its interface, its gateway leg, and a peer on every other node. */
const node = (id: string, addr: string): NodeRecord => ({ id, hostname: id, role: 'worker', runsTasks: true, addr, labels: {}, status: 'ready', statusMessage: '', joinedAt: '', updatedAt: '' });
const net = (id: string, extra: Partial<NetworkRecord> = {}): NetworkRecord => ({
  id, name: `s_${id}`, stack: 's', driver: 'overlay', subnet: '10.0.1.0/24', gateway: '10.0.1.1', vni: 4100, internal: false, attachable: true, ingress: false, createdAt: '', ...extra,
});
const ep = (id: string, nodeId: string, networkId: string, addr: string, netns = `/run/netns/cni-${id}`): EndpointRecord => ({
  id, networkId, nodeId, containerId: `ctr-${id}`, ifname: 'eth0', name: `web-${id}`, netns, addr, createdAt: '',
});

function input(endpoints: EndpointRecord[], networks: NetworkRecord[] = [net('n1')]): DataplaneInput {
  const nodes = [node('a', '172.30.0.11'), node('b', '172.30.0.12')];
  return {
    node: nodes[0]!, nodes, networks, services: [], tasks: [], statuses: new Map(), lbaddrs: [], endpoints,
    paths: new RunPaths('/run/meshd'), vxlanPort: 4789, underlayMtu: 1500, gatewaySubnet: '172.31.0.0/16',
    gatewayAddrs: new Map(gatewayOwners({ node: nodes[0]!, tasks: [], statuses: new Map(), endpoints }).map((id, i) => [id, `172.31.0.${i + 2}/16`])),
  };
}

describe('CNI endpoints in the desired data plane', () => {
  it('gives a local container its interface on the overlay and a gateway leg; a remote one is a peer', () => {
    const d = desiredDataplane(input([ep('e1', 'a', 'n1', '10.0.1.7/24'), ep('e2', 'b', 'n1', '10.0.1.8/24')]));
    expect(d.overlays.map((o) => ({ id: o.networkId, netns: o.netns, peers: o.peers }))).toEqual([
      { id: 'n1', netns: '/run/meshd/netns/ov_n1', peers: [{ ip: '10.0.1.8', mac: '02:42:0a:00:01:08', vtep: '172.30.0.12' }] },
    ]);
    expect(d.attachments).toEqual([
      { ownerId: 'e1', networkId: 'n1', sandbox: '/run/netns/cni-e1', ifname: 'eth0', bridgePort: 'ce1', addr: '10.0.1.7/24', mac: '02:42:0a:00:01:07', mtu: 1450, overlayNetns: '/run/meshd/netns/ov_n1' },
    ]);
    expect(d.gateway.tasks).toEqual([{ taskId: 'e1', sandbox: '/run/netns/cni-e1', hostPort: 'ge1', addr: '172.31.0.2/16', isolated: false }]);
  });

  it('isolates a container on an internal network (its leg reaches only the node DNS)', () => {
    const d = desiredDataplane(input([ep('e1', 'a', 'n1', '10.0.1.7/24')], [net('n1', { internal: true })]));
    expect(d.gateway.tasks.map((t) => t.isolated)).toEqual([true]);
  });

  it('builds nothing for a node with no container and no task', () => {
    const d = desiredDataplane(input([ep('e2', 'b', 'n1', '10.0.1.8/24')]));
    expect({ overlays: d.overlays, attachments: d.attachments, legs: d.gateway.tasks }).toEqual({ overlays: [], attachments: [], legs: [] });
  });
});
