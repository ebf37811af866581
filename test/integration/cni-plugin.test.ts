import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CNI_ERRORS, SUPPORTED_VERSIONS, type CniResult, type MeshdCniRequest, type MeshdCniResponse } from '../../cni/protocol.js';

/**
 * Conformance of the `meshd` CNI plugin: the executable driven as runtimes drive it (CNI_*
 * environment, configuration on stdin; stdout and exit code read back). meshd's side is a fake
 * speaking cni/protocol.ts that records what the plugin forwarded and answers what a test sets.
 */

const PLUGIN = join(import.meta.dirname, '..', '..', 'bin', 'meshd-cni.js');
const NETNS = '/run/netns/cni-test-c1';

type Version = (typeof SUPPORTED_VERSIONS)[number];
/** What the fake answers: a protocol answer, raw text, or misbehaviour. */
type FakeAnswer = MeshdCniResponse | { raw: string } | 'hang' | 'hang-up';

/** A unix-socket server speaking meshd's side of cni/protocol.ts: one JSON line in, one answer out. */
class FakeMeshd {
  readonly requests: MeshdCniRequest[] = [];
  answer: (req: MeshdCniRequest) => FakeAnswer = () => ({ ok: true });
  private readonly open = new Set<Socket>();

  private constructor(
    readonly socket: string,
    private readonly server: Server,
  ) {
    server.on('connection', (conn) => this.serve(conn));
  }

  static async start(socket: string): Promise<FakeMeshd> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve));
    return new FakeMeshd(socket, server);
  }

  private serve(conn: Socket): void {
    this.open.add(conn);
    conn.on('close', () => this.open.delete(conn));
    let text = '';
    conn.on('data', (chunk) => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      const req = JSON.parse(text.slice(0, newline)) as MeshdCniRequest;
      this.requests.push(req);
      const answer = this.answer(req);
      if (answer === 'hang') return;
      if (answer === 'hang-up') conn.end();
      else if ('raw' in answer) conn.end(answer.raw);
      else conn.end(JSON.stringify(answer) + '\n');
    });
  }

  reset(): void {
    this.requests.length = 0;
    this.answer = () => ({ ok: true });
  }

  async stop(): Promise<void> {
    for (const conn of this.open) conn.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface PluginRun {
  exitCode: number;
  stdout: string;
  /** stdout parsed (undefined when empty): exactly one JSON document or the test fails. */
  output: Record<string, unknown> | undefined;
}

/** Runs the plugin as a runtime does: only the given environment, `stdin` as the configuration. */
async function runPlugin(env: Record<string, string>, stdin: unknown): Promise<PluginRun> {
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
  const res = await execa(process.execPath, [PLUGIN], { env, extendEnv: false, input, reject: false, timeout: 30_000 });
  const stdout = String(res.stdout);
  return { exitCode: res.exitCode ?? -1, stdout, output: stdout === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>) };
}

const ATTACHMENT_ENV = {
  CNI_CONTAINERID: 'c0ffee-1',
  CNI_NETNS: NETNS,
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1',
  CNI_PATH: '/opt/cni/bin',
};
const FORWARDED_ARGS = { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web-1' };
const envFor = (command: string, extra: Record<string, string> = {}) => ({ CNI_COMMAND: command, ...ATTACHMENT_ENV, ...extra });
const envWithout = (command: string, ...names: string[]) => Object.fromEntries(Object.entries(envFor(command)).filter(([k]) => !names.includes(k)));

/** What meshd answers an ADD (CNI 1.1.0's shape): a v4 and a v6 address to check 0.4.0's `version`. */
const MESHD_RESULT: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '02:42:0a:00:01:05', mtu: 1450, sandbox: NETNS }],
  ips: [
    { address: '10.0.1.5/24', gateway: '10.0.1.1', interface: 0 },
    { address: 'fd00:1::5/64', interface: 0 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.1.1' }],
  dns: { nameservers: ['10.0.1.2'], search: ['stack'], options: ['ndots:0'] },
};

/** The ADD result each version prints (written out, not computed: the spec's shapes). */
const PRINTED_RESULT: Record<Version, Record<string, unknown>> = {
  '0.4.0': {
    cniVersion: '0.4.0',
    interfaces: [{ name: 'eth0', mac: '02:42:0a:00:01:05', sandbox: NETNS }],
    ips: [
      { version: '4', address: '10.0.1.5/24', gateway: '10.0.1.1', interface: 0 },
      { version: '6', address: 'fd00:1::5/64', interface: 0 },
    ],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.1.1' }],
    dns: { nameservers: ['10.0.1.2'], search: ['stack'], options: ['ndots:0'] },
  },
  '1.0.0': {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '02:42:0a:00:01:05', sandbox: NETNS }],
    ips: [
      { address: '10.0.1.5/24', gateway: '10.0.1.1', interface: 0 },
      { address: 'fd00:1::5/64', interface: 0 },
    ],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.1.1' }],
    dns: { nameservers: ['10.0.1.2'], search: ['stack'], options: ['ndots:0'] },
  },
  '1.1.0': {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', mac: '02:42:0a:00:01:05', mtu: 1450, sandbox: NETNS }],
    ips: [
      { address: '10.0.1.5/24', gateway: '10.0.1.1', interface: 0 },
      { address: 'fd00:1::5/64', interface: 0 },
    ],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.1.1' }],
    dns: { nameservers: ['10.0.1.2'], search: ['stack'], options: ['ndots:0'] },
  },
};

/** A runtime's prevResult (its version's ADD result) as meshd gets it: 1.1.0's shape, no `ips[].version`. */
const prevResultForwarded = (v: Version) => ({ ...PRINTED_RESULT[v], cniVersion: '1.1.0', ips: PRINTED_RESULT['1.1.0'].ips });

describe('meshd CNI plugin (the executable, against a fake meshd)', () => {
  let dir: string;
  let meshd: FakeMeshd;
  /** The request configuration a runtime derives from a `type: meshd` conflist entry. */
  const netconf = (cniVersion: string | undefined, extra: Record<string, unknown> = {}) => ({
    ...(cniVersion === undefined ? {} : { cniVersion }),
    name: 'stack_front',
    type: 'meshd',
    socket: meshd.socket,
    network: 'stack_front',
    runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    ...extra,
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-cni-plugin-'));
    meshd = await FakeMeshd.start(join(dir, 'cni.sock'));
  });
  afterAll(async () => {
    await meshd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => meshd.reset());

  describe('VERSION (answered by the plugin alone)', () => {
    it.each(SUPPORTED_VERSIONS)('asked in %s: answers in that version with every supported version', async (v) => {
      const run = await runPlugin({ CNI_COMMAND: 'VERSION' }, { cniVersion: v });
      expect(run).toMatchObject({ exitCode: 0, output: { cniVersion: v, supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] } });
      expect(meshd.requests).toEqual([]);
    });

    it('asked in no version (empty stdin): answers in 1.1.0', async () => {
      const run = await runPlugin({ CNI_COMMAND: 'VERSION' }, '');
      expect(run).toMatchObject({ exitCode: 0, output: { cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] } });
    });
  });

  describe.each(SUPPORTED_VERSIONS)('cniVersion %s', (v) => {
    it('ADD forwards the attachment and prints meshd\'s result converted to this version', async () => {
      meshd.answer = () => ({ result: MESHD_RESULT });
      const run = await runPlugin(envFor('ADD'), netconf(v));
      expect(run.exitCode).toBe(0);
      expect(run.output).toEqual(PRINTED_RESULT[v]);
      expect(meshd.requests).toEqual([{ command: 'ADD', containerId: 'c0ffee-1', netns: NETNS, ifname: 'eth0', args: FORWARDED_ARGS, config: netconf(v) }]);
    });

    it('ADD refused by meshd (101: not attachable): meshd\'s error is printed unchanged', async () => {
      const refusal = { code: CNI_ERRORS.notAttachable, msg: 'network "stack_back" is not attachable', details: 'create it with attachable: true' };
      meshd.answer = () => ({ error: refusal });
      const run = await runPlugin(envFor('ADD'), netconf(v, { network: 'stack_back' }));
      expect(run.exitCode).toBe(1);
      expect(run.output).toEqual({ cniVersion: v, ...refusal });
      expect(meshd.requests.map((r) => r.config.network)).toEqual(['stack_back']);
    });

    it('DEL with the prevResult of this version: prints nothing, forwards prevResult in 1.1.0\'s shape', async () => {
      const run = await runPlugin(envFor('DEL'), netconf(v, { prevResult: PRINTED_RESULT[v] }));
      expect(run).toMatchObject({ exitCode: 0, stdout: '' });
      expect(meshd.requests).toEqual([
        { command: 'DEL', containerId: 'c0ffee-1', netns: NETNS, ifname: 'eth0', args: FORWARDED_ARGS, config: { ...netconf(v), prevResult: prevResultForwarded(v) } },
      ]);
    });

    it('CHECK with the prevResult of this version: prints nothing, forwards the attachment', async () => {
      const run = await runPlugin(envFor('CHECK'), netconf(v, { prevResult: PRINTED_RESULT[v] }));
      expect(run).toMatchObject({ exitCode: 0, stdout: '' });
      expect(meshd.requests).toEqual([
        { command: 'CHECK', containerId: 'c0ffee-1', netns: NETNS, ifname: 'eth0', args: FORWARDED_ARGS, config: { ...netconf(v), prevResult: prevResultForwarded(v) } },
      ]);
    });

    it('CHECK failed in meshd (103): meshd\'s error is printed unchanged', async () => {
      const failed = { code: CNI_ERRORS.checkFailed, msg: 'eth0 has no address 10.0.1.5/24' };
      meshd.answer = () => ({ error: failed });
      const run = await runPlugin(envFor('CHECK'), netconf(v, { prevResult: PRINTED_RESULT[v] }));
      expect(run).toMatchObject({ exitCode: 1, output: { cniVersion: v, ...failed } });
    });
  });

  describe('DEL is permissive', () => {
    it.each([
      ['CNI_NETNS unset', envWithout('DEL', 'CNI_NETNS')],
      ['CNI_NETNS empty', envFor('DEL', { CNI_NETNS: '' })],
    ])('%s and no prevResult: succeeds, meshd gets no netns', async (_, env) => {
      const run = await runPlugin(env, netconf('1.1.0'));
      expect(run).toMatchObject({ exitCode: 0, stdout: '' });
      expect(meshd.requests).toHaveLength(1);
      expect(meshd.requests[0]).toEqual({ command: 'DEL', containerId: 'c0ffee-1', ifname: 'eth0', args: FORWARDED_ARGS, config: netconf('1.1.0') });
    });
  });

  describe('STATUS and GC (1.1.0)', () => {
    it('STATUS asks meshd without a container (even when the environment has one) and prints nothing', async () => {
      const run = await runPlugin(envFor('STATUS'), netconf('1.1.0'));
      expect(run).toMatchObject({ exitCode: 0, stdout: '' });
      expect(meshd.requests).toEqual([{ command: 'STATUS', args: {}, config: netconf('1.1.0') }]);
    });

    it('STATUS: meshd saying it cannot serve ADD (51) is printed unchanged', async () => {
      const limited = { code: CNI_ERRORS.limitedConnectivity, msg: 'the managers are unreachable', details: 'no allocator' };
      meshd.answer = () => ({ error: limited });
      const run = await runPlugin({ CNI_COMMAND: 'STATUS' }, netconf('1.1.0'));
      expect(run).toMatchObject({ exitCode: 1, output: { cniVersion: '1.1.0', ...limited } });
    });

    it('GC forwards cni.dev/valid-attachments and prints nothing', async () => {
      const valid = [{ containerID: 'c0ffee-1', ifname: 'eth0' }, { containerID: 'c0ffee-2', ifname: 'net1' }];
      const run = await runPlugin({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, netconf('1.1.0', { 'cni.dev/valid-attachments': valid }));
      expect(run).toMatchObject({ exitCode: 0, stdout: '' });
      expect(meshd.requests).toEqual([{ command: 'GC', args: {}, config: netconf('1.1.0', { 'cni.dev/valid-attachments': valid }) }]);
    });

    it('GC with the spec 1.1.0 tag\'s name cni.dev/attachments: meshd gets it as cni.dev/valid-attachments', async () => {
      const valid = [{ containerID: 'c0ffee-1', ifname: 'eth0' }];
      const run = await runPlugin({ CNI_COMMAND: 'GC' }, netconf('1.1.0', { 'cni.dev/attachments': valid }));
      expect(run.exitCode).toBe(0);
      expect(meshd.requests.map((r) => r.config)).toEqual([netconf('1.1.0', { 'cni.dev/valid-attachments': valid })]);
    });

    it('GC without a list (what `cnitool gc` sends): meshd gets an empty list, none is still valid', async () => {
      const run = await runPlugin({ CNI_COMMAND: 'GC' }, netconf('1.1.0'));
      expect(run.exitCode).toBe(0);
      expect(meshd.requests.map((r) => r.config['cni.dev/valid-attachments'])).toEqual([[]]);
    });

    it.each([
      ['STATUS', '1.0.0'],
      ['STATUS', '0.4.0'],
      ['GC', '1.0.0'],
      ['GC', '0.4.0'],
    ])('%s in %s: refused with code 1 (the command came in 1.1.0), meshd not asked', async (command, v) => {
      const run = await runPlugin({ CNI_COMMAND: command }, netconf(v));
      expect(run).toMatchObject({ exitCode: 1, output: { cniVersion: v, code: CNI_ERRORS.incompatibleVersion, msg: `config version does not allow ${command}` } });
      expect(meshd.requests).toEqual([]);
    });
  });

  describe('version selection with cniVersions', () => {
    it('an unsupported cniVersion with cniVersions: the highest listed version the plugin supports', async () => {
      meshd.answer = () => ({ result: MESHD_RESULT });
      const run = await runPlugin(envFor('ADD'), netconf('0.3.1', { cniVersions: ['0.3.1', '0.4.0', '1.0.0', '2.0.0'] }));
      expect(run).toMatchObject({ exitCode: 0, output: PRINTED_RESULT['1.0.0'] });
      expect(meshd.requests.map((r) => r.config.cniVersion)).toEqual(['1.0.0']);
    });

    it('a supported cniVersion is the runtime\'s choice, even when cniVersions lists a newer one', async () => {
      meshd.answer = () => ({ result: MESHD_RESULT });
      const run = await runPlugin(envFor('ADD'), netconf('0.4.0', { cniVersions: ['0.4.0', '1.1.0'] }));
      expect(run).toMatchObject({ exitCode: 0, output: PRINTED_RESULT['0.4.0'] });
    });

    it('no cniVersion, cniVersions only: the highest supported', async () => {
      meshd.answer = () => ({ result: MESHD_RESULT });
      const run = await runPlugin(envFor('ADD'), netconf(undefined, { cniVersions: ['1.0.0', '1.1.0', '1.2.0'] }));
      expect(run).toMatchObject({ exitCode: 0, output: PRINTED_RESULT['1.1.0'] });
    });
  });

  describe('invalid input: a CNI error, meshd not asked', () => {
    const valid = () => netconf('1.0.0');
    it.each<[string, Record<string, string>, () => unknown, number, RegExp]>([
      ['bad JSON', envFor('ADD'), () => '{"cniVersion": "1.0.0", "name": ', CNI_ERRORS.decodeFailure, /decoding the network configuration/],
      ['a JSON list instead of an object', envFor('ADD'), () => '[]', CNI_ERRORS.decodeFailure, /decoding the network configuration/],
      ['CNI_NETNS missing on ADD', envWithout('ADD', 'CNI_NETNS'), valid, CNI_ERRORS.invalidEnvironment, /\[CNI_NETNS\] missing/],
      ['CNI_NETNS missing on CHECK', envWithout('CHECK', 'CNI_NETNS'), () => netconf('1.0.0', { prevResult: PRINTED_RESULT['1.0.0'] }), CNI_ERRORS.invalidEnvironment, /\[CNI_NETNS\] missing/],
      ['CNI_CONTAINERID and CNI_IFNAME missing on DEL', envWithout('DEL', 'CNI_CONTAINERID', 'CNI_IFNAME'), valid, CNI_ERRORS.invalidEnvironment, /\[CNI_CONTAINERID,CNI_IFNAME\] missing/],
      ['CNI_COMMAND missing', envWithout('ADD', 'CNI_COMMAND'), valid, CNI_ERRORS.invalidEnvironment, /\[CNI_COMMAND\] missing/],
      ['an unknown CNI_COMMAND', envFor('UPDATE'), valid, CNI_ERRORS.invalidEnvironment, /unknown CNI_COMMAND: UPDATE/],
      ['a container id with a "/"', envFor('ADD', { CNI_CONTAINERID: 'c1/../x' }), valid, CNI_ERRORS.invalidEnvironment, /CNI_CONTAINERID/],
      ['an interface name of 16 characters', envFor('ADD', { CNI_IFNAME: 'eth0123456789abc' }), valid, CNI_ERRORS.invalidEnvironment, /CNI_IFNAME/],
      ['CNI_ARGS not KEY=VALUE', envFor('ADD', { CNI_ARGS: 'K8S_POD_NAME=web-1;oops' }), valid, CNI_ERRORS.invalidEnvironment, /CNI_ARGS/],
      ['MESHD_CNI_TIMEOUT_MS not a number', envFor('ADD', { MESHD_CNI_TIMEOUT_MS: 'soon' }), valid, CNI_ERRORS.invalidEnvironment, /MESHD_CNI_TIMEOUT_MS/],
      ['an unsupported cniVersion (0.3.1)', envFor('ADD'), () => netconf('0.3.1'), CNI_ERRORS.incompatibleVersion, /incompatible CNI versions/],
      ['no cniVersion at all (0.1.0)', envFor('ADD'), () => netconf(undefined), CNI_ERRORS.incompatibleVersion, /incompatible CNI versions/],
      ['cniVersion not a string', envFor('ADD'), () => netconf('1.0.0', { cniVersion: 1 }), CNI_ERRORS.invalidNetworkConfig, /"cniVersion"/],
      ['type is not meshd', envFor('ADD'), () => netconf('1.0.0', { type: 'bridge' }), CNI_ERRORS.invalidNetworkConfig, /"type" must be "meshd"/],
      ['socket missing', envFor('ADD'), () => netconf('1.0.0', { socket: undefined }), CNI_ERRORS.invalidNetworkConfig, /"socket" is missing/],
      ['socket a relative path', envFor('ADD'), () => netconf('1.0.0', { socket: 'run/meshd/cni.sock' }), CNI_ERRORS.invalidNetworkConfig, /"socket" must be an absolute path/],
      ['network missing', envFor('ADD'), () => netconf('1.0.0', { network: undefined }), CNI_ERRORS.invalidNetworkConfig, /"network" is missing/],
      ['network empty', envFor('ADD'), () => netconf('1.0.0', { network: '' }), CNI_ERRORS.invalidNetworkConfig, /"network" must be a non-empty string/],
      ['name missing', envFor('ADD'), () => netconf('1.0.0', { name: undefined }), CNI_ERRORS.invalidNetworkConfig, /"name" is missing/],
      ['CHECK without prevResult', envFor('CHECK'), valid, CNI_ERRORS.invalidNetworkConfig, /"prevResult" is missing/],
      ['GC attachments not a list', { CNI_COMMAND: 'GC' }, () => netconf('1.1.0', { 'cni.dev/valid-attachments': { containerID: 'c1' } }), CNI_ERRORS.invalidNetworkConfig, /"cni.dev\/valid-attachments"/],
    ])('%s', async (_, env, stdin, code, msg) => {
      const run = await runPlugin(env, stdin());
      expect(run.exitCode).toBe(1);
      expect(run.output).toMatchObject({ code, msg: expect.stringMatching(msg) });
      expect(Object.keys(run.output!).sort()).toEqual(['cniVersion', 'code', 'details', 'msg']);
      expect(meshd.requests).toEqual([]);
    });

    it('an unsupported version: the details name the supported ones', async () => {
      const run = await runPlugin(envFor('ADD'), netconf('0.3.1'));
      expect(run.output).toEqual({ cniVersion: '1.1.0', code: 1, msg: 'incompatible CNI versions', details: 'config is "0.3.1", plugin supports ["0.4.0","1.0.0","1.1.0"]' });
    });
  });

  describe('meshd not running', () => {
    const nowhere = () => join(dir, 'nobody-listens.sock');

    it.each(['ADD', 'DEL', 'CHECK', 'GC'])('%s: code 11 (try again later), the details name the socket', async (command) => {
      const stdin = netconf('1.1.0', { socket: nowhere(), prevResult: PRINTED_RESULT['1.1.0'] });
      const run = await runPlugin(envFor(command), stdin);
      expect(run).toMatchObject({ exitCode: 1, output: { cniVersion: '1.1.0', code: CNI_ERRORS.tryAgainLater, msg: expect.stringMatching(/try again later/) } });
      expect(run.output!.details).toContain(nowhere());
    });

    it('ADD to a path that is a plain file, not a socket: code 11', async () => {
      const notASocket = join(dir, 'plain-file.sock');
      await writeFile(notASocket, '');
      const run = await runPlugin(envFor('ADD'), netconf('1.0.0', { socket: notASocket }));
      expect(run).toMatchObject({ exitCode: 1, output: { cniVersion: '1.0.0', code: CNI_ERRORS.tryAgainLater } });
      expect(run.output!.details).toContain(notASocket);
    });

    it('STATUS: code 50 (cannot serve ADD), the details name the socket', async () => {
      const run = await runPlugin({ CNI_COMMAND: 'STATUS' }, netconf('1.1.0', { socket: nowhere() }));
      expect(run).toMatchObject({ exitCode: 1, output: { cniVersion: '1.1.0', code: CNI_ERRORS.pluginNotAvailable, msg: expect.stringMatching(/cannot serve ADD/) } });
      expect(run.output!.details).toContain(nowhere());
    });
  });

  describe('meshd misbehaving', () => {
    it('no answer within MESHD_CNI_TIMEOUT_MS: ADD gets code 11, STATUS code 50, each soon after the deadline', async () => {
      meshd.answer = () => 'hang';
      const started = Date.now();
      const add = await runPlugin(envFor('ADD', { MESHD_CNI_TIMEOUT_MS: '300' }), netconf('1.1.0'));
      const status = await runPlugin({ CNI_COMMAND: 'STATUS', MESHD_CNI_TIMEOUT_MS: '300' }, netconf('1.1.0'));
      expect(add.output).toMatchObject({ code: CNI_ERRORS.tryAgainLater, msg: expect.stringMatching(/did not answer in time/), details: expect.stringContaining('300 ms') });
      expect(status.output).toMatchObject({ code: CNI_ERRORS.pluginNotAvailable, msg: expect.stringMatching(/did not answer in time/) });
      expect(meshd.requests.map((r) => r.command)).toEqual(['ADD', 'STATUS']);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('hangs up without answering: code 11', async () => {
      meshd.answer = () => 'hang-up';
      const run = await runPlugin(envFor('DEL'), netconf('1.1.0'));
      expect(run).toMatchObject({ exitCode: 1, output: { code: CNI_ERRORS.tryAgainLater, msg: expect.stringMatching(/hung up/) } });
    });

    it.each<[string, FakeAnswer]>([
      ['an answer that is not JSON', { raw: 'Internal Server Error\n' }],
      ['ok to an ADD (which needs a result)', { ok: true }],
      ['a result without ips', { raw: JSON.stringify({ result: { ...MESHD_RESULT, ips: undefined } }) + '\n' }],
      ['an error without a numeric code', { raw: JSON.stringify({ error: { code: 'bad', msg: 'x' } }) + '\n' }],
    ])('%s: code 6 (meshd\'s answer cannot be decoded)', async (_, answer) => {
      meshd.answer = () => answer;
      const run = await runPlugin(envFor('ADD'), netconf('1.0.0'));
      expect(run).toMatchObject({ exitCode: 1, output: { cniVersion: '1.0.0', code: CNI_ERRORS.decodeFailure } });
      expect(run.output!.details).toContain(meshd.socket);
    });

    it('a result without its newline before the connection ends is still the answer', async () => {
      meshd.answer = () => ({ raw: JSON.stringify({ result: MESHD_RESULT }) });
      const run = await runPlugin(envFor('ADD'), netconf('1.1.0'));
      expect(run).toMatchObject({ exitCode: 0, output: PRINTED_RESULT['1.1.0'] });
    });
  });
});
