import { describe, expect, it } from 'vitest';
import { laggingNodes } from '../../core/applied.js';
import { openConnections } from '../../worker/connections.js';
import { AppliedReporter, type AppliedSeqs } from '../../worker/dataplane/applied-report.js';
import { localTasks } from '../../worker/dataplane/desired.js';
import { routingMeshInUse } from '../../core/serving.js';
import type { DataplaneApplied, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../../core/model.js';
import type { Logger } from '../../core/log.js';

const node = (id: string, status: NodeRecord['status'] = 'ready'): NodeRecord =>
  ({ id, hostname: `host-${id}`, role: 'worker', runsTasks: true, addr: '172.30.0.1', labels: {}, status, statusMessage: '', joinedAt: '', updatedAt: '' }) as NodeRecord;
const applied = (nodeId: string, tasksSeq: number, statusSeq = 0): DataplaneApplied => ({ nodeId, tasksSeq, statusSeq, updatedAt: '' });
const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => quiet } as unknown as Logger;

describe('laggingNodes', () => {
  it('names the live nodes whose applied record is missing or below', () => {
    const nodes = [node('a'), node('b'), node('c'), node('d')];
    const lag = laggingNodes({ nodes, applied: [applied('a', 10), applied('b', 9), applied('d', 11)], want: { tasksSeq: 10 } });
    expect(lag.map((n) => n.id)).toEqual(['b', 'c']);
  });

  it('never waits for a node marked down (it is out of every load balancer already)', () => {
    expect(laggingNodes({ nodes: [node('a'), node('b', 'down')], applied: [applied('a', 5)], want: { tasksSeq: 5 } })).toEqual([]);
  });

  it('checks the status sequence too, and both together', () => {
    const nodes = [node('a'), node('b')];
    const rec = [applied('a', 10, 3), applied('b', 12, 7)];
    expect(laggingNodes({ nodes, applied: rec, want: { statusSeq: 5 } }).map((n) => n.id)).toEqual(['a']);
    expect(laggingNodes({ nodes, applied: rec, want: { tasksSeq: 11, statusSeq: 3 } }).map((n) => n.id)).toEqual(['a']);
    expect(laggingNodes({ nodes, applied: rec, want: {} })).toEqual([]);
  });

  it('ignores a record of a node that is no longer in the cluster', () => {
    expect(laggingNodes({ nodes: [node('a')], applied: [applied('a', 3), applied('gone', 0)], want: { tasksSeq: 3 } })).toEqual([]);
  });
});

// /proc/net/tcp as the kernel writes it: sl, local, remote, st, ... (ports in hex: 1F90 = 8080).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0500000A:1F90 0100000A:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0500000A:1F90 0100000A:D432 06 00000000:00000000 03:00000F9C 00000000     0        0 0 3 0000000000000000
   3: 0500000A:1F90 0100000A:D433 08 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   4: 0500000A:D440 0A00000A:0CEA 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 20 4 30 10 -1
   5: 0500000A:1F90 0100000A:D434 03 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000500000A:1F90 0000000000000000FFFF00000100000A:D450 01 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 20 4 30 10 -1
`;

describe('openConnections (/proc/net/tcp)', () => {
  it('counts ESTABLISHED and SYN_RECV connections on the given ports only', () => {
    // Not: the listener (0A), TIME_WAIT (06), CLOSE_WAIT (08), an outgoing connection from another port.
    expect(openConnections(TCP, new Set([8080]))).toEqual(['0500000A:1F90 -> 0100000A:D431', '0500000A:1F90 -> 0100000A:D434']);
    expect(openConnections(TCP, new Set([80]))).toEqual([]);
  });

  it('reads tcp6 tables (v4-mapped and v6 addresses) the same way', () => {
    expect(openConnections(TCP6, new Set([8080]))).toHaveLength(1);
  });

  it('tolerates an empty or truncated table', () => {
    expect(openConnections('', new Set([8080]))).toEqual([]);
    expect(openConnections('header\n   0: 0500000A:1F90\n', new Set([8080]))).toEqual([]);
  });
});

describe('AppliedReporter', () => {
  const setup = () => {
    const writes: AppliedSeqs[] = [];
    const gates: { resolve: () => void; reject: (e: Error) => void }[] = [];
    const r = new AppliedReporter({
      write: (s) => {
        writes.push(s);
        return new Promise<void>((resolve, reject) => gates.push({ resolve, reject }));
      },
      log: quiet,
    });
    const settle = async (ok = true) => {
      const g = gates.shift()!;
      if (ok) g.resolve();
      else g.reject(new Error('nats down'));
      await new Promise((r) => setImmediate(r));
    };
    return { r, writes, settle };
  };

  it('writes only when a sequence advanced, one write at a time, newest wins', async () => {
    const { r, writes, settle } = setup();
    r.offer({ tasksSeq: 5, statusSeq: 2 });
    r.offer({ tasksSeq: 6, statusSeq: 2 });
    r.offer({ tasksSeq: 7, statusSeq: 3 });
    expect(writes).toEqual([{ tasksSeq: 5, statusSeq: 2 }]);
    await settle();
    expect(writes).toEqual([{ tasksSeq: 5, statusSeq: 2 }, { tasksSeq: 7, statusSeq: 3 }]);
    await settle();
    r.offer({ tasksSeq: 7, statusSeq: 3 });
    r.offer({ tasksSeq: 6, statusSeq: 1 });
    expect(writes).toHaveLength(2);
    expect(r.last).toEqual({ tasksSeq: 7, statusSeq: 3 });
  });

  it('retries a failed write at the next offer, even one that did not advance', async () => {
    const { r, writes, settle } = setup();
    r.offer({ tasksSeq: 5, statusSeq: 2 });
    await settle(false);
    expect(r.last).toEqual({ tasksSeq: 0, statusSeq: 0 });
    r.offer({ tasksSeq: 5, statusSeq: 2 });
    expect(writes).toEqual([{ tasksSeq: 5, statusSeq: 2 }, { tasksSeq: 5, statusSeq: 2 }]);
    await settle();
    expect(r.last).toEqual({ tasksSeq: 5, statusSeq: 2 });
  });
});

describe('localTasks (what a node keeps wired)', () => {
  const task = (id: string, desiredState: TaskRecord['desiredState'], nodeId = 'a') => ({ id, nodeId, desiredState }) as TaskRecord;
  const status = (taskId: string, state: TaskStatus['state']) => [taskId, { taskId, state }] as [string, TaskStatus];

  it('keeps a leaving task wired until its process has stopped, so its connections are served', () => {
    const tasks = [task('run', 'running'), task('leaving', 'shutdown'), task('stopped', 'shutdown'), task('never', 'shutdown'), task('elsewhere', 'running', 'b')];
    const statuses = new Map([status('run', 'running'), status('leaving', 'running'), status('stopped', 'shutdown')]);
    expect(localTasks({ node: node('a'), tasks, statuses }).map((t) => t.id)).toEqual(['run', 'leaving']);
  });
});

describe('routingMeshInUse', () => {
  const publishing = { id: 's1', endpoint: { ports: [{ mode: 'ingress' }] } } as unknown as ServiceRecord;
  const quietSvc = { id: 's2', endpoint: { ports: [] } } as unknown as ServiceRecord;
  const onIngress = (id: string, serviceId: string, desiredState: TaskRecord['desiredState']) => ({ id, serviceId, desiredState, addresses: [{ networkId: 'ing', addr: '10.255.0.5/16' }] }) as unknown as TaskRecord;
  const st = (taskId: string, state: TaskStatus['state']) => new Map([[taskId, { taskId, state } as TaskStatus]]);

  it('is in use while anything publishes in ingress mode', () => {
    expect(routingMeshInUse({ services: [publishing], tasks: [], statuses: new Map(), ingressId: 'ing' })).toBe(true);
    expect(routingMeshInUse({ services: [quietSvc], tasks: [], statuses: new Map(), ingressId: 'ing' })).toBe(false);
  });

  it('stays in use after the last publisher went, while one of its replicas still leaves', () => {
    const leaving = onIngress('t1', 's1', 'shutdown');
    expect(routingMeshInUse({ services: [], tasks: [leaving], statuses: st('t1', 'running'), ingressId: 'ing' })).toBe(true);
    expect(routingMeshInUse({ services: [], tasks: [leaving], statuses: st('t1', 'shutdown'), ingressId: 'ing' })).toBe(false);
    // Service record gone, shutdown record not yet written: still leaving.
    expect(routingMeshInUse({ services: [], tasks: [onIngress('t1', 's1', 'running')], statuses: st('t1', 'running'), ingressId: 'ing' })).toBe(true);
    // A running replica of a service that no longer publishes keeps nothing up.
    expect(routingMeshInUse({ services: [quietSvc], tasks: [onIngress('t2', 's2', 'running')], statuses: st('t2', 'running'), ingressId: 'ing' })).toBe(false);
  });
});
