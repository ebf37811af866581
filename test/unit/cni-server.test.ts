import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniSocketServer } from '../../worker/cni/server.js';
import { cniError } from '../../worker/cni/errors.js';
import { createLogger } from '../../core/log.js';
import type { MeshdCniRequest } from '../../cni/protocol.js';

/** meshd's end of the plugin socket: what reaches the attachment code, and what a bad request gets. */
describe('the CNI socket server', () => {
  let dir: string;
  let server: CniSocketServer;
  const received: MeshdCniRequest[] = [];

  const ask = (line: string) =>
    new Promise<unknown>((resolve, reject) => {
      const sock = connect(join(dir, 'cni.sock'));
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => (buf += d));
      sock.on('end', () => resolve(JSON.parse(buf)));
      sock.on('error', reject);
      sock.write(line);
    });
  const request = (over: Record<string, unknown> = {}, config: Record<string, unknown> = {}) =>
    JSON.stringify({ command: 'ADD', containerId: 'c1', netns: '/run/netns/x', ifname: 'eth0', args: { K8S_POD_NAME: 'web' }, config: { cniVersion: '1.0.0', name: 'n', type: 'meshd', socket: '/s', network: 'st_app', ...config }, ...over }) + '\n';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-cni-server-'));
    server = new CniSocketServer({
      path: join(dir, 'cni.sock'),
      log: createLogger({ level: 'error' }),
      handle: async (req) => {
        received.push(req);
        if (req.containerId === 'refused') throw cniError(101, 'network st_app is not attachable');
        if (req.containerId === 'broken') throw new Error('kv timeout');
        return { ok: true };
      },
    });
    await server.start();
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is reachable by root only, and hands a valid request to the attachment code whole', async () => {
    expect((await stat(join(dir, 'cni.sock'))).mode & 0o777).toBe(0o600);
    expect(await ask(request())).toEqual({ ok: true });
    expect(received.at(-1)).toEqual({ command: 'ADD', containerId: 'c1', netns: '/run/netns/x', ifname: 'eth0', args: { K8S_POD_NAME: 'web' }, config: { cniVersion: '1.0.0', name: 'n', type: 'meshd', socket: '/s', network: 'st_app' } });
  });

  it('answers a bad request with a CNI error naming the field, and never passes it on', async () => {
    const before = received.length;
    expect(await ask('{not json\n')).toMatchObject({ error: { code: 6, msg: 'request is not JSON' } });
    expect(await ask(request({}, { type: 'bridge' }))).toMatchObject({ error: { code: 7, msg: expect.stringMatching(/^invalid request: config\.type: /) } });
    expect(await ask(request({ command: 'EXPLODE' }))).toMatchObject({ error: { code: 7, msg: expect.stringMatching(/^invalid request: command: /) } });
    expect(await ask(request({}, { network: '' }))).toMatchObject({ error: { code: 7, msg: expect.stringMatching(/^invalid request: config\.network: /) } });
    expect(received.length).toBe(before);
  });

  it("passes meshd's CNI errors through and turns any other failure into 'try again later' (11)", async () => {
    expect(await ask(request({ containerId: 'refused' }))).toEqual({ error: { code: 101, msg: 'network st_app is not attachable' } });
    expect(await ask(request({ containerId: 'broken' }))).toEqual({ error: { code: 11, msg: 'kv timeout' } });
  });
});
