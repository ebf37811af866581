/**
 * `meshctl dev` library against the real kernel: namespaces, bridge, veths and detached daemons.
 * meshd is replaced by a stub (a node one-liner that listens on <advertise-addr>:7999 and answers
 * its node name), so these tests exercise the cluster plumbing only. Runs as root; everything lives
 * under a unique MESHD_DEV_HOME in /tmp and is removed in afterAll even when a test fails.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../core/exec.js';
import { netnsMountsUnder, pidsInNetns } from '../../core/netns.js';
import {
  attachNode,
  createUnderlay,
  planCluster,
  devDown,
  devExec,
  devList,
  devUp,
  isInUnderlay,
  killNode,
  loadCluster,
  readCurrent,
  resolveCluster,
  runInUnderlay,
  runningPid,
  startNode,
  stopNode,
  teardownDir,
  type DevCluster,
} from '../../cli/dev/index.js';
import { mountsUnder } from '../../cli/dev/mounts.js';
import { isRunning } from '../../cli/dev/proc.js';

const STUB_PORT = 7999;
const STUB = `
const net = require('net');
const a = process.argv;
const arg = (f) => { const i = a.indexOf(f); return i >= 0 ? a[i + 1] : undefined; };
const name = arg('--node-name'), addr = arg('--advertise-addr');
if (a.includes('--stub-fail')) { console.log('stub ' + name + ': failing on purpose'); process.exit(3); }
const ignoreTerm = a.includes('--stub-ignore-term');
const server = net.createServer((c) => c.end(name + ' ' + process.env.MESHD_DEV_CLUSTER + '\\n'));
server.listen(${STUB_PORT}, addr, () => console.log('stub ' + name + ' listening on ' + addr));
process.on('SIGTERM', () => {
  if (ignoreTerm) { console.log('stub ignoring SIGTERM'); return; }
  server.close(); process.exit(0);
});
`;
const STUB_COMMAND = [process.execPath, '-e', STUB, '--'];

const PROBE = `
const s = require('net').connect(${STUB_PORT}, process.argv[1]);
let d = ''; s.on('data', (x) => (d += x)); s.on('end', () => process.stdout.write(d));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
setTimeout(() => process.exit(2), 3000).unref();
`;

const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-3)}`;
const NAME_A = `ta${suffix}`.slice(0, 16);
const NAME_B = `tb${suffix}`.slice(0, 16);
let home = '';
const savedHome = process.env.MESHD_DEV_HOME;

/** Asks the stub on addr for its name, from inside `netns`; retries while the stub starts. */
async function probe(netns: string, addr: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 30; i++) {
    try {
      return (await run([process.execPath, '-e', PROBE, addr], { netns, timeoutMs: 5000 })).stdout.trim();
    } catch (err) {
      last = err;
      await sleep(100);
    }
  }
  throw last;
}

async function emergencyCleanup(dir: string): Promise<void> {
  const mounts = await netnsMountsUnder(dir);
  for (const pid of await pidsInNetns(mounts)) if (pid !== process.pid) process.kill(pid, 'SIGKILL');
  await sleep(200);
  for (const m of (await mountsUnder(dir)).reverse()) await run(['umount', '-l', m.mountPoint], { okExitCodes: [32] });
  await rm(dir, { recursive: true, force: true });
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshd-dev-test-'));
  process.env.MESHD_DEV_HOME = home;
});

afterAll(async () => {
  if (!home) return;
  for (const name of [NAME_A, NAME_B, `${NAME_A}-f`, `${NAME_A}-r`, `${NAME_A}-t`]) {
    const dir = join(home, name);
    await teardownDir(dir).catch(() => emergencyCleanup(dir));
  }
  await emergencyCleanup(home);
  if (savedHome === undefined) delete process.env.MESHD_DEV_HOME;
  else process.env.MESHD_DEV_HOME = savedHome;
});

describe('meshctl dev: a real multi-node cluster in namespaces', () => {
  let a: DevCluster;

  it('brings up 3 nodes (1 manager) with namespaces, addresses, routes and daemons', async () => {
    a = await devUp({ name: NAME_A, nodes: 3, managers: 1, meshdCommand: STUB_COMMAND, meshdArgs: ['--log-level', 'debug'] });
    expect(a.nodes.map((n) => [n.hostname, n.role, n.addr])).toEqual([
      ['node-1', 'manager', '172.30.0.11'],
      ['node-2', 'worker', '172.30.0.12'],
      ['node-3', 'worker', '172.30.0.13'],
    ]);
    expect(a.natsUrls).toEqual(['nats://172.30.0.11:4222']);
    expect(await readCurrent()).toBe(NAME_A);
    expect(await loadCluster(NAME_A)).toEqual(a);
    expect((await resolveCluster()).name).toBe(NAME_A);
    const mounts = await netnsMountsUnder(a.dir);
    expect(mounts.sort()).toEqual([a.underlay.netns, ...a.nodes.map((n) => n.netns)].sort());

    const br = (await run(['ip', '-o', '-4', 'addr', 'show', 'dev', 'br0'], { netns: a.underlay.netns })).stdout;
    expect(br).toContain('172.30.0.1/24');
    const brLink = (await run(['ip', '-o', 'link', 'show', 'dev', 'br0'], { netns: a.underlay.netns })).stdout;
    expect(brLink).toMatch(/mtu 1500/);
    expect(brLink).toMatch(/[<,]UP[,>]/);
    for (const [i, node] of a.nodes.entries()) {
      const port = (await run(['ip', '-o', 'link', 'show', 'dev', `vn${i + 1}`], { netns: a.underlay.netns })).stdout;
      expect(port).toContain('master br0');
      const addr = (await run(['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'], { netns: node.netns })).stdout;
      expect(addr).toContain(`${node.addr}/24`);
      const route = (await run(['ip', '-4', 'route', 'show', 'default'], { netns: node.netns })).stdout;
      expect(route).toMatch(/^default via 172\.30\.0\.1 dev eth0/);
      const lo = (await run(['ip', '-o', 'link', 'show', 'dev', 'lo'], { netns: node.netns })).stdout;
      expect(lo).toMatch(/[<,]UP[,>]/);
      expect(existsSync(node.stateDir) && existsSync(node.runDir)).toBe(true);
      const pid = Number((await readFile(node.pidFile, 'utf8')).trim());
      expect(await runningPid(node)).toBe(pid);
      const ns = await run(['readlink', `/proc/${pid}/ns/net`]);
      expect(ns.stdout).toBe(`net:[${(await stat(node.netns)).ino}]`);
    }
  });

  it('reaches every node from the underlay and one node from another', async () => {
    for (const node of a.nodes) expect(await probe(a.underlay.netns, node.addr)).toBe(`${node.hostname} ${NAME_A}`);
    expect(await probe(a.nodes[0]!.netns, a.nodes[2]!.addr)).toBe(`node-3 ${NAME_A}`);
    expect(await probe(a.nodes[2]!.netns, a.nodes[1]!.addr)).toBe(`node-2 ${NAME_A}`);
    const log = await readFile(a.nodes[0]!.logFile, 'utf8');
    expect(log).toContain('stub node-1 listening on 172.30.0.11');
  });

  it('runs commands in a node or the underlay and reports exit codes', async () => {
    expect(await devExec(a, 'node-2', ['sh', '-c', 'ip -o -4 addr show eth0 | grep -q 172.30.0.12 && exit 7'])).toBe(7);
    expect(await runInUnderlay(a, ['sh', '-c', 'ip -o -4 addr show br0 | grep -q 172.30.0.1'])).toBe(0);
    expect(await runInUnderlay(a, ['sh', '-c', 'test "$MESHD_DEV_UNDERLAY" = "$MESHD_DEV_CLUSTER"'])).toBe(0);
    await expect(devExec(a, 'node-9', ['true'])).rejects.toThrow(/no node "node-9"; nodes: node-1, node-2, node-3/);
    expect(await isInUnderlay(a)).toBe(false);
  });

  it('stops, kills and restarts nodes', async () => {
    const n2 = a.nodes[1]!;
    const pid = (await runningPid(n2))!;
    await expect(startNode(a, 'node-2')).rejects.toThrow(/already running/);
    const stopped = await stopNode(a, 'node-2');
    expect(stopped).toEqual({ hostname: 'node-2', pid, forced: false });
    expect(await isRunning(pid)).toBe(false);
    expect(await runningPid(n2)).toBeUndefined();
    expect(await stopNode(a, 'node-2')).toEqual({ hostname: 'node-2', forced: false });

    const pid2 = await startNode(a, 'node-2');
    expect(pid2).not.toBe(pid);
    expect(await probe(a.underlay.netns, n2.addr)).toBe(`node-2 ${NAME_A}`);
    const killed = await killNode(a, 'node-2');
    expect(killed.pid).toBe(pid2);
    expect(await isRunning(pid2)).toBe(false);
    await startNode(a, 'node-2');
    expect(await probe(a.underlay.netns, n2.addr)).toBe(`node-2 ${NAME_A}`);
  });

  it('treats a reused pid as not running (cmdline check)', async () => {
    const n3 = a.nodes[2]!;
    const real = (await readFile(n3.pidFile, 'utf8')).trim();
    try {
      await writeFile(n3.pidFile, `${process.pid}\n`);
      expect(await runningPid(n3)).toBeUndefined();
    } finally {
      await writeFile(n3.pidFile, `${real}\n`);
    }
    expect(await runningPid(n3)).toBe(Number(real));
  });

  it('refuses a second up of the same name without touching the first', async () => {
    await expect(devUp({ name: NAME_A, nodes: 1, managers: 1, meshdCommand: STUB_COMMAND })).rejects.toThrow(
      new RegExp(`meshctl dev down --name ${NAME_A}`),
    );
    for (const node of a.nodes) expect(await runningPid(node)).toBeDefined();
  });

  it('runs a second cluster beside the first; down of one leaves the other intact', async () => {
    const b = await devUp({ name: NAME_B, nodes: 2, managers: 2, meshdCommand: STUB_COMMAND });
    expect(b.natsUrls).toEqual(['nats://172.30.0.11:4222', 'nats://172.30.0.12:4222']);
    expect(await readCurrent()).toBe(NAME_B);
    expect(await probe(b.underlay.netns, '172.30.0.11')).toBe(`node-1 ${NAME_B}`);
    expect(await probe(a.underlay.netns, '172.30.0.11')).toBe(`node-1 ${NAME_A}`);
    const list = await devList();
    expect(list.map((c) => [c.name, c.nodes, c.managers, c.running, c.current])).toEqual([
      [NAME_A, 3, 1, 3, false],
      [NAME_B, 2, 2, 2, true],
    ]);

    const bPids = (await Promise.all(b.nodes.map((n) => runningPid(n)))) as number[];
    const report = await devDown({});
    expect(report.name).toBe(NAME_B);
    expect(report.clearedCurrent).toBe(true);
    for (const pid of bPids) expect(await isRunning(pid)).toBe(false);
    expect(existsSync(b.dir)).toBe(false);
    expect(await netnsMountsUnder(b.dir)).toEqual([]);
    expect(await readCurrent()).toBeUndefined();
    for (const node of a.nodes) expect(await probe(a.underlay.netns, node.addr)).toBe(`${node.hostname} ${NAME_A}`);
    await expect(resolveCluster()).rejects.toThrow(/meshctl dev up/);
  });

  it('down removes everything, including task sandboxes and strays meshd left behind', async () => {
    const n1 = a.nodes[0]!;
    // What meshd would make: a task sandbox bind-mounted under its run dir with a process inside,
    // and a process in the node namespace that is not meshd.
    const sandbox = join(n1.runDir, 'netns', 't_0123456789ab');
    await run(['mkdir', '-p', join(n1.runDir, 'netns')]);
    await run(['touch', sandbox]);
    await run(['unshare', `--net=${sandbox}`, 'true'], { netns: n1.netns });
    const strays = [
      spawn('nsenter', [`--net=${sandbox}`, '--', 'sleep', '300'], { detached: true, stdio: 'ignore' }),
      spawn('nsenter', [`--net=${n1.netns}`, '--', 'sh', '-c', 'trap "" TERM; sleep 300'], { detached: true, stdio: 'ignore' }),
    ];
    for (const c of strays) c.unref();
    await sleep(300);
    const before = await pidsInNetns(await netnsMountsUnder(a.dir));
    expect(before.length).toBeGreaterThanOrEqual(5);

    const report = await devDown({ name: NAME_A });
    expect(report.unmounted).toContain(sandbox);
    for (const pid of before) expect(await isRunning(pid)).toBe(false);
    expect(await netnsMountsUnder(a.dir)).toEqual([]);
    expect(await mountsUnder(a.dir)).toEqual([]);
    expect(existsSync(a.dir)).toBe(false);
    await expect(devDown({ name: NAME_A })).rejects.toThrow(/no dev cluster/);
  });

  it('undoes everything when a meshd dies at start, and shows its log', async () => {
    const name = `${NAME_A}-f`;
    const err = await devUp({ name, nodes: 2, managers: 1, meshdCommand: STUB_COMMAND, meshdArgs: ['--stub-fail'] }).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/exited right after start/);
    expect((err as Error).message).toContain('failing on purpose');
    expect(existsSync(join(home, name))).toBe(false);
    expect(await netnsMountsUnder(join(home, name))).toEqual([]);
    expect(await readCurrent()).toBeUndefined();
  });

  it('undoes everything when waitReady fails or times out, restoring current', async () => {
    await writeFile(join(home, 'current'), `${NAME_B}\n`);
    const failing = devUp({
      name: `${NAME_A}-r`,
      nodes: 1,
      managers: 1,
      meshdCommand: STUB_COMMAND,
      waitReady: async (c) => {
        await probe(c.underlay.netns, c.nodes[0]!.addr);
        throw new Error('never ready');
      },
    });
    await expect(failing).rejects.toThrow(/never ready[\s\S]*listening on 172\.30\.0\.11/);
    const slow = devUp({
      name: `${NAME_A}-t`,
      nodes: 1,
      managers: 1,
      meshdCommand: STUB_COMMAND,
      readyTimeoutMs: 500,
      waitReady: (_c, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    });
    await expect(slow).rejects.toThrow(/not ready after 0.5 s/);
    expect(await readCurrent()).toBe(NAME_B);
    expect(await netnsMountsUnder(home)).toEqual([]);
    expect(existsSync(join(home, `${NAME_A}-r`)) || existsSync(join(home, `${NAME_A}-t`))).toBe(false);
  });

  it('downs a half-made cluster (no cluster.json, no daemons) and lists it as incomplete', async () => {
    const name = `${NAME_A}-r`;
    const half = planCluster({ name, nodes: 2, managers: 1 });
    await mkdir(half.dir, { recursive: true });
    await createUnderlay(half);
    await attachNode(half, half.nodes[0]!);
    const row = (await devList()).find((c) => c.name === name);
    expect(row).toMatchObject({ complete: false, nodes: 0 });
    await expect(resolveCluster(name)).rejects.toThrow(/incomplete[\s\S]*meshctl dev down --name/);
    const report = await devDown({ name });
    expect(report.unmounted.sort()).toEqual([half.underlay.netns, half.nodes[0]!.netns].sort());
    expect(existsSync(half.dir)).toBe(false);
  });

  it('forces a stop when meshd ignores SIGTERM', async () => {
    const name = `${NAME_A}-f`;
    const c = await devUp({ name, nodes: 1, managers: 1, meshdCommand: STUB_COMMAND, meshdArgs: ['--stub-ignore-term'] });
    try {
      const pid = (await runningPid(c.nodes[0]!))!;
      const res = await stopNode(c, 'node-1', { timeoutMs: 500 });
      expect(res).toEqual({ hostname: 'node-1', pid, forced: true });
      expect(await isRunning(pid)).toBe(false);
    } finally {
      await devDown({ name });
    }
    expect(await netnsMountsUnder(home)).toEqual([]);
  });
});
