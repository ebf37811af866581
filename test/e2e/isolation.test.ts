import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureNetns, removeNetns } from '../../core/netns.js';
import { DevCluster, waitFor, type TaskRow } from '../helpers/dev.js';

const N1 = '172.30.0.11';
const N2 = '172.30.0.12';
/** Our client on the cluster's underlay bridge, and an address "beyond" node-1 (held by the underlay). */
const CLIENT = '172.30.0.200';
const BEYOND = '10.99.0.1';

/**
 * What a hostile task tries: every secret path directly and through every /proc/<pid>/root it can
 * see, every visible process's cmdline and environ, mounting a proc of its own, unmounting a mask.
 * `plain` (the control run outside any task) tries the direct paths and lists processes only.
 */
const PROBE = `#!/bin/sh
dir=$1; mode=$2
for p in $(cat "$dir/paths"); do
  if cat "$p" > /dev/null 2>&1; then echo "READ $p"; else echo "DENIED $p"; fi
  [ "$mode" = plain ] && continue
  for pid in $(ls /proc | grep '^[0-9][0-9]*$'); do
    if cat "/proc/$pid/root$p" > /dev/null 2>&1; then echo "READ /proc/$pid/root$p"; fi
  done
done
for pid in $(ls /proc | grep '^[0-9][0-9]*$'); do
  echo "PID $pid $(tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null)"
  [ "$mode" = plain ] || echo "ENV $pid $(tr '\\0' ' ' < /proc/$pid/environ 2>/dev/null)"
done
if [ "$mode" != plain ]; then
  mkdir -p "$dir/procmnt" && mount -t proc proc "$dir/procmnt" 2>/dev/null && echo "MOUNTED proc"
  for m in $(cat "$dir/masks"); do umount "$m" 2>/dev/null && echo "UNMOUNTED $m"; done
  ls /dev | tr '\\n' ' ' | sed 's/^/DEV /'; echo
  echo "UID $(id -u)"
  echo DONE
  exec sleep 100000
fi
`;

const HTTP = (port: number) => `require('http').createServer((q, s) => s.end(process.env.MESH_TASK_NAME + '\\\\n')).listen(${port})`;
const stack = (dir: string) => `services:
  spy:
    command: ["sh", "${dir}/probe.sh", "${dir}", "task"]
    deploy: { placement: { constraints: ["node.hostname == node-1"] } }
  who:
    command: ["sh", "-c", "echo UID $(id -u) GID $(id -g); exec sleep 100000"]
    user: nobody
    healthcheck: { test: ["CMD-SHELL", "test $(id -u) = 65534"], interval: 1s, timeout: 5s, retries: 1 }
    deploy: { placement: { constraints: ["node.hostname == node-2"] } }
  num:
    command: ["sh", "-c", "echo UID $(id -u) GID $(id -g); exec sleep 100000"]
    user: "4242:4343"
    deploy: { placement: { constraints: ["node.hostname == node-2"] } }
  web:
    command: ["node", "-e", "${HTTP(80)}; ${HTTP(81)}"]
    deploy: { mode: global }
    ports: ["8080:80", { target: 81, published: 9091, mode: host }]
`;

describe('task isolation and forwarding on a 2-node dev cluster', () => {
  let c: DevCluster;
  let dir: string;
  let underlay: string;
  let client: string | undefined;
  let beyond: ResultPromise | undefined;
  let beyondLog = '';
  const veth = `isv${process.pid % 100000}`;
  const inNs = (netns: string, argv: string[], timeout = 30_000) => execa('nsenter', [`--net=${netns}`, '--', ...argv], { reject: false, timeout });
  const running = async (svc: string) => (await c.list<TaskRow>(['service', 'ps', svc])).filter((t) => t.DesiredState === 'Running');
  const taskLog = async (node: string, taskId: string) => {
    const tasks = join(c.nodeDir(node), 'run', 'tasks');
    const id = (await readdir(tasks)).find((d) => d.startsWith(taskId))!;
    return readFile(join(tasks, id, 'task.log'), 'utf8');
  };

  /** Every file meshd keeps in a node's state dir, every node's log, the cluster file. */
  async function secretPaths(): Promise<string[]> {
    const out = [join(c.dir, 'cluster.json')];
    for (const node of ['node-1', 'node-2']) {
      const state = join(c.nodeDir(node), 'state');
      for (const f of await readdir(state)) if ((await stat(join(state, f))).isFile()) out.push(join(state, f));
      out.push(join(c.nodeDir(node), 'meshd.log'));
    }
    return out;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iso-probe-'));
    await chmod(dir, 0o755);
    c = await DevCluster.up({ nodes: 2, managers: 1 });
    underlay = join(c.dir, 'netns', 'underlay');
    await writeFile(join(dir, 'probe.sh'), PROBE);
    await writeFile(join(dir, 'paths'), (await secretPaths()).join('\n') + '\n');
    await writeFile(join(dir, 'masks'), [c.home, join(c.nodeDir('node-1'), 'state'), join(c.nodeDir('node-1'), 'run')].join('\n') + '\n');
    await writeFile(join(dir, 'stack.yml'), stack(dir));
    await c.ok(['stack', 'deploy', '-c', join(dir, 'stack.yml'), 'iso'], { timeoutMs: 120_000 });
  }, 300_000);

  afterAll(async () => {
    beyond?.kill('SIGKILL');
    if (underlay) await inNs(underlay, ['ip', 'link', 'del', veth]);
    if (client) await removeNetns(client);
    await c?.down();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 180_000);

  it('the probe finds the secrets from outside a task (control)', async () => {
    const paths = await secretPaths();
    expect(paths.map((p) => p.split('/').pop())).toEqual(expect.arrayContaining(['cluster-secrets.json', 'admin.creds', 'node.creds', 'nats-server.conf']));
    const out = String((await inNs(join(c.dir, 'netns', 'node-1'), ['sh', join(dir, 'probe.sh'), dir, 'plain'], 60_000)).stdout);
    for (const p of paths) expect(out).toContain(`READ ${p}`);
    expect(out).toMatch(/PID \d+ .*meshd/);
  });

  it('a command task reads no meshd secret: not by path, /proc/<pid>/root, cmdline or environ', async () => {
    const [spy] = await running('iso_spy');
    const out = await waitFor('the probe to finish', async () => {
      const log = await taskLog('node-1', spy!.ID);
      return log.includes('DONE') ? log : undefined;
    });
    const paths = await secretPaths();
    expect(out).not.toMatch(/^READ /m);
    for (const p of paths) expect(out).toContain(`DENIED ${p}`);
    // Its own pid namespace: only its own processes, none of meshd's or nats-server's.
    const procs = out.split('\n').filter((l) => l.startsWith('PID '));
    expect(procs.length).toBeGreaterThan(0);
    expect(procs.length).toBeLessThan(8);
    // pid 1 is the task's own init (its script names meshd-task); nothing else of meshd's is there.
    expect(procs[0]).toMatch(/^PID 1 sh -c mount --bind /);
    expect(procs.slice(1).join('\n')).not.toMatch(/meshd|nats-server|join-token/);
    expect(out.split('\n').filter((l) => l.startsWith('ENV ')).join('\n')).not.toMatch(/MESHD_|NATS/);
    // No values of the secrets anywhere in what it saw.
    const secrets = JSON.parse(await readFile(join(c.nodeDir('node-1'), 'state', 'cluster-secrets.json'), 'utf8')) as Record<string, unknown>;
    const values = Object.values(secrets).filter((v): v is string => typeof v === 'string' && v.length >= 16);
    expect(values.length).toBeGreaterThan(0);
    for (const v of values) expect(out).not.toContain(v);
    // Without CAP_SYS_ADMIN it can neither mount a proc of its own nor lift a mask; no disks in /dev.
    expect(out).not.toMatch(/^MOUNTED|^UNMOUNTED/m);
    expect(out).toMatch(/^DEV fd full null random shm stderr stdin stdout tty urandom zero $/m);
    expect(out).toMatch(/^UID 0$/m);
  });

  it('runs as the compose user: (a name and uid:gid), and health checks and task exec do too', async () => {
    const [who] = await running('iso_who');
    const [num] = await running('iso_num');
    await waitFor('who and num to print their ids', async () => {
      const [a, b] = [await taskLog('node-2', who!.ID), await taskLog('node-2', num!.ID)];
      return a.includes('UID') && b.includes('UID') ? true : undefined;
    });
    expect(await taskLog('node-2', who!.ID)).toContain('UID 65534 GID 65534');
    expect(await taskLog('node-2', num!.ID)).toContain('UID 4242 GID 4343');
    const healthy = await waitFor('who healthy', async () => ((await running('iso_who'))[0]?.Health === 'healthy' ? true : undefined));
    expect(healthy).toBe(true);
    expect((await c.ok(['task', 'exec', 'iso_who.1', '--', 'id', '-u'])).trim()).toBe('65534');
    // exec enters the task's pid namespace: pid 1 is the task's init, not the node's.
    expect((await c.ok(['task', 'exec', 'iso_num.1', '--', 'sh', '-c', 'id -u; cat /proc/1/cmdline | tr "\\0" " "'])).split('\n')[0]).toBe('4242');
    const pid1 = await c.ok(['task', 'exec', 'iso_num.1', '--', 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline']);
    expect(pid1).toMatch(/^sh -c mount --bind /);
    expect(pid1).not.toMatch(/systemd|bin\/meshd|nats-server/);
  });

  it('a meshd restart adopts tasks in their pid namespaces (live restore)', async () => {
    const [who] = await running('iso_who');
    const before = await c.taskPid('node-2', who!.ID);
    await c.ok(['dev', 'stop', 'node-2']);
    await c.ok(['dev', 'start', 'node-2']);
    const adopted = await waitFor('node-2 to adopt who', async () => {
      const log = await c.meshdLog('node-2');
      if (!new RegExp(`adopted running task.* task=iso_who\\.1 pid=${before}\\b`).test(log)) throw new Error(log.split('\n').filter((l) => /adopt|task/.test(l)).slice(-8).join('\n'));
      return true;
    }, 60_000);
    expect(adopted).toBe(true);
    expect(await c.taskPid('node-2', who!.ID)).toBe(before);
    expect((await c.ok(['task', 'exec', 'iso_who.1', '--', 'id', '-u'])).trim()).toBe('65534');
  }, 180_000);

  it('a client routing through a node reaches nothing beyond it, while published ports still answer', async () => {
    // Our own client namespace on the cluster's underlay bridge; the underlay holds BEYOND.
    client = join(dir, 'client');
    await ensureNetns(client);
    const must = async (netns: string, argv: string[]) => {
      const r = await inNs(netns, argv);
      if (r.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
    };
    await must(underlay, ['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client]);
    await must(underlay, ['ip', 'link', 'set', veth, 'master', 'br0', 'up']);
    await must(underlay, ['ip', 'addr', 'add', `${BEYOND}/32`, 'dev', 'br0']);
    await must(client, ['ip', 'addr', 'add', `${CLIENT}/24`, 'dev', 'eth0']);
    await must(client, ['ip', 'link', 'set', 'eth0', 'up']);
    await must(client, ['ip', 'route', 'add', `${BEYOND}/32`, 'via', N1]);
    await must(client, ['ip', 'route', 'add', '172.31.0.0/16', 'via', N1]);
    beyond = execa('nsenter', [`--net=${underlay}`, process.execPath, '-e', `require('http').createServer((q, s) => { console.log('GOT', q.socket.remoteAddress); s.end('beyond\\n'); }).listen(18099, '${BEYOND}')`], { reject: false });
    beyond.stdout?.on('data', (d: Buffer) => (beyondLog += String(d)));
    let beyondErr = '';
    beyond.stderr?.on('data', (d: Buffer) => (beyondErr += String(d)));
    // The server answers where it is (from the underlay itself): the address is real.
    const direct = await waitFor('the server beyond to listen', async () => {
      const out = String((await inNs(underlay, ['curl', '-s', '--max-time', '5', `http://${BEYOND}:18099/`])).stdout);
      if (out.trim() !== 'beyond') throw new Error(`got ${JSON.stringify(out)}; server stderr: ${beyondErr}`);
      return out;
    });
    expect(direct.trim()).toBe('beyond');
    beyondLog = '';

    const node1 = join(c.dir, 'netns', 'node-1');
    const dropped = async () => Number(/counter packets (\d+) bytes \d+ drop/.exec(String((await inNs(node1, ['nft', 'list', 'chain', 'ip', 'meshd_gw', 'forward'])).stdout))?.[1] ?? NaN);
    const before = await dropped();
    const curl = (url: string) => inNs(client!, ['curl', '-s', '--max-time', '2', url]);
    const toBeyond = await curl(`http://${BEYOND}:18099/`);
    expect(toBeyond.exitCode).not.toBe(0);
    expect(beyondLog).toBe('');
    // A task's own gateway leg, straight through the node, is not a way around published ports.
    const [web1] = (await running('iso_web')).filter((t) => t.Node === 'node-1');
    const gw0 = String((await inNs(join(c.nodeDir('node-1'), 'run', 'netns', `t_${web1!.ID.slice(0, 12)}`), ['ip', '-4', '-o', 'addr', 'show', 'gw0'])).stdout);
    const gwAddr = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(gw0)?.[1];
    expect(gwAddr).toMatch(/^172\.31\./);
    expect((await curl(`http://${gwAddr}:80/`)).exitCode).not.toBe(0);
    // Refused by our forward chain (its counted last rule), not lost on the way.
    expect(before).toBeGreaterThanOrEqual(0);
    expect(await dropped()).toBeGreaterThan(before);
    // The routing mesh on both nodes and the host-mode port still answer this client.
    for (const addr of [N1, N2]) expect(String((await curl(`http://${addr}:8080/`)).stdout)).toMatch(/^iso_web\.\S+$/);
    expect(String((await curl(`http://${N1}:9091/`)).stdout)).toMatch(/^iso_web\.\S+$/);
    // lb_/ingress_sbox and the node own their forwarding; task and overlay namespaces do not forward.
    expect(String((await inNs(join(c.nodeDir('node-1'), 'run', 'netns', 'ingress_sbox'), ['nft', 'list', 'table', 'ip', 'meshd_fwd'])).stdout)).toContain('policy drop;');
    for (const ns of (await readdir(join(c.nodeDir('node-1'), 'run', 'netns'))).filter((n) => /^(t|ov)_/.test(n))) {
      expect(String((await inNs(join(c.nodeDir('node-1'), 'run', 'netns', ns), ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout).trim()).toBe('0');
    }
  }, 120_000);
});
