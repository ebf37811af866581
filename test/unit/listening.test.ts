import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { boundPorts, portsNotListening, waitListening } from '../../worker/listening.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:A2B4 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
`;
const UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  12: 00000000000000000000000000000000:14B4 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3 2 0000000000000000 0
`;

describe('task port readiness from /proc/<pid>/net', () => {
  it('reads listening TCP ports (not established ones) and bound UDP ports', () => {
    expect([...boundPorts(TCP, 'tcp')]).toEqual([80]);
    expect([...boundPorts(UDP6, 'udp')]).toEqual([5300]);
  });

  it('waits until a real process binds its declared port', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, ['-e', `setTimeout(() => require('net').createServer().listen(${port}), 300); setTimeout(() => {}, 10000)`]);
    try {
      expect(await portsNotListening(child.pid!, [{ protocol: 'tcp', target: port }])).toEqual([`${port}/tcp`]);
      expect(await waitListening(child.pid!, [{ protocol: 'tcp', target: port }], 5_000)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('gives up when the process is gone, naming what never listened', async () => {
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    expect(await waitListening(child.pid!, [{ protocol: 'udp', target: 5300 }], 5_000)).toEqual(['5300/udp']);
  });
});
