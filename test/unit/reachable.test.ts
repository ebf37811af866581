import { describe, expect, it } from 'vitest';
import { peerKey, unsyncedPeers, withoutBackends } from '../../worker/dataplane/reachable.js';
import type { LbDesired } from '../../lb/model.js';

const peer = (ip: string, vtep: string) => ({ ip, mac: '02:42:00:00:00:00', vtep });

describe('the LB fast lane selects only replicas the overlay can reach', () => {
  it('a peer counts as synced only at the node the full sync wrote it for', () => {
    const synced = new Set([peerKey(peer('10.0.1.5', '172.30.0.12')), peerKey(peer('10.0.1.6', '172.30.0.13'))]);
    const wanted = [peer('10.0.1.5', '172.30.0.12'), peer('10.0.1.6', '172.30.0.12'), peer('10.0.1.7', '172.30.0.13')];
    expect([...unsyncedPeers(wanted, synced)].sort()).toEqual(['10.0.1.6', '10.0.1.7']);
    expect([...unsyncedPeers(wanted, undefined)].sort()).toEqual(['10.0.1.5', '10.0.1.6', '10.0.1.7']);
  });

  it('leaves unreachable backends out of every service, keeping the rest as they were', () => {
    const lb: LbDesired = {
      snatAddr: '10.0.1.250',
      services: [
        { name: 'web', fwmark: 0x100, match: { type: 'vip', vip: '10.0.1.2' }, backends: [{ addr: '10.0.1.5', weight: 1 }, { addr: '10.0.1.7', weight: 1 }] },
        { name: 'api', fwmark: 0x101, match: { type: 'vip', vip: '10.0.1.3' }, backends: [{ addr: '10.0.1.7', weight: 0 }] },
      ],
    };
    expect(withoutBackends(lb, new Set(['10.0.1.7']))).toEqual({
      snatAddr: '10.0.1.250',
      services: [
        { name: 'web', fwmark: 0x100, match: { type: 'vip', vip: '10.0.1.2' }, backends: [{ addr: '10.0.1.5', weight: 1 }] },
        { name: 'api', fwmark: 0x101, match: { type: 'vip', vip: '10.0.1.3' }, backends: [] },
      ],
    });
    expect(withoutBackends(lb, new Set())).toBe(lb);
  });
});
