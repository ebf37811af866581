/**
 * Services that name only an image (issue 13), on a 3-node dev cluster with real parts: images
 * built here FROM scratch out of busybox-static, pushed to Debian's distribution registry running
 * in the cluster's underlay namespace, pulled by every node's podman into its own store, run in
 * the task sandboxes meshd wires.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DevCluster, slowdown, waitFor, type TaskRow } from '../helpers/dev.js';
import { ImageBuilder, TestRegistry, writeLoginFile } from '../helpers/images.js';
import { activeBackends } from '../helpers/lb-state.js';
import { chooseStorage, detectPodman } from '../../worker/engine/podman.js';
import { podmanGlobalArgs } from '../../worker/engine/podman-argv.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const REGISTRY = '172.30.0.1:5000';
/** A second registry, with htpasswd auth (one user). */
const PRIVATE = '172.30.0.1:5001';
const LOGIN = { user: 'deployer', password: 'correct-horse' };
const HELPERS = resolve(import.meta.dirname, '..', 'helpers');

/** A web server answering its task name (its hostname), with the image's own HEALTHCHECK. */
const WEB = {
  tag: 'web:1',
  files: { 'bin/serve': '#!/bin/sh\nhostname > /www/index.html\necho "serving $(hostname)"\nexec httpd -f -p 80 -h /www\n' },
  lines: ['HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD wget -q -O /dev/null http://127.0.0.1/ || exit 1', 'CMD ["/bin/serve"]'],
};
/** A TCP service: answers every connection with its task name. */
const ECHO = { tag: 'echo:1', lines: ['CMD ["nc", "-ll", "-p", "7000", "-e", "hostname"]'] };
/** A client that only waits (tests exec into it). */
const TOOLS = { tag: 'tools:1', lines: ['CMD ["sleep", "1000000"]'] };

const stack = (web: string, echo: string, tools: string) => `services:
  web:
    image: ${web}
    deploy: { replicas: 3 }
    ports: ["8080:80"]
    networks: [front]
  echo:
    image: ${echo}
    networks: [front]
  client:
    image: ${tools}
    networks: [front]
networks:
  front: {}
`;

describe('services that name only an image (podman, a registry in the cluster)', () => {
  let c: DevCluster;
  let dir: string;
  let builder: ImageBuilder;
  let registry: TestRegistry;
  let privateRegistry: TestRegistry;
  let underlay: string;
  const refs: Record<string, string> = {};
  const running = async (svc: string) => (await c.list<TaskRow & { Health: string }>(['service', 'ps', svc])).filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running'));
  const nodeStore = async (node: string) => {
    const found = await detectPodman({ stateDir: join(c.nodeDir(node), 'state'), runDir: join(c.nodeDir(node), 'run') });
    if (!found.ok) throw new Error(found.reason);
    const setup = await chooseStorage(found.base);
    return (args: string[]) => execa(setup.binary, [...podmanGlobalArgs(setup), ...args]);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-images-e2e-'));
    builder = await ImageBuilder.create();
    const local = { web: await builder.build(WEB), echo: await builder.build(ECHO), tools: await builder.build(TOOLS) };
    c = await DevCluster.up({ nodes: 3, managers: 1, meshdArgs: ['--insecure-registry', REGISTRY, '--insecure-registry', PRIVATE, '--stop-grace', '2'] });
    underlay = join(c.dir, 'netns', 'underlay');
    registry = await TestRegistry.start({ netns: underlay, addr: REGISTRY });
    for (const [k, l] of Object.entries(local)) refs[k] = await builder.push(l, REGISTRY, underlay);
    privateRegistry = await TestRegistry.start({ netns: underlay, addr: PRIVATE, login: LOGIN });
    await writeLoginFile(join(dir, 'good-auth.json'), PRIVATE, LOGIN);
    refs.private = await builder.push(local.tools, PRIVATE, underlay, { authFile: join(dir, 'good-auth.json') });
    await writeFile(join(dir, 'images.yml'), stack(refs.web!, refs.echo!, refs.tools!));
    await c.ok(['stack', 'deploy', '-c', join(dir, 'images.yml'), 'img'], { timeoutMs: 180_000 });
    await waitFor('3 healthy web replicas in every node\'s ingress LB, echo and client running', async () => {
      const web = await running('img_web');
      if (web.length !== 3 || !web.every((t) => t.Health === 'healthy') || (await running('img_echo')).length !== 1 || (await running('img_client')).length !== 1) return undefined;
      const want = web.map((t) => t.Addresses.find((a) => a.Network === 'ingress')!.Addr.split('/')[0]!).sort().join();
      for (const node of NODES) if ((await activeBackends(join(c.nodeDir(node), 'run', 'netns', 'ingress_sbox'), 'tcp 8080')).sort().join() !== want) return undefined;
      return true;
    }, slowdown(90_000), 500).catch(async (err: unknown) => {
      // What each task did, and what the nodes said, before giving up.
      console.log(await c.ok(['stack', 'ps', 'img']), await c.logTails(30));
      throw err;
    });
  });
  afterAll(async () => {
    // Every step runs even when one fails (a registry already gone must not leave the cluster up).
    const errors: unknown[] = [];
    for (const step of [() => registry?.stop(), () => privateRegistry?.stop(), () => c?.down(), () => builder?.remove(), async () => void (dir && (await rm(dir, { recursive: true, force: true })))]) {
      await Promise.resolve().then(step).catch((err: unknown) => errors.push(err));
    }
    if (errors.length) throw errors[0];
  });

  it('reports every node as able to run images', async () => {
    // The node's own podman, found at start-up (not assumed): it is what the scheduler needs.
    for (const node of NODES) expect(await c.meshdLog(node)).toMatch(/INFO container engine .*engine="podman \d/);
  });

  it('answers the published port on every node from every replica (the image health check passed first)', async () => {
    const names = (await running('img_web')).map((t) => t.Name).sort();
    expect(names).toEqual(['img_web.1', 'img_web.2', 'img_web.3']);
    // The LB picks a replica at random per connection: every one answers within 60 requests
    // (9 requests missed one of 3 about once in five runs; 60 miss one about once in 10^10).
    const script = (addr: string) => `seen=""; for i in $(seq 60); do a=$(curl -s --max-time 5 http://${addr}:8080/); echo "$a"; case " $seen " in *" $a "*) ;; *) seen="$seen $a";; esac; [ $(echo $seen | wc -w) -ge ${names.length} ] && break; done`;
    for (const node of NODES) {
      const addr = `172.30.0.${10 + Number(node.slice(5))}`;
      const res = await execa('nsenter', [`--net=${underlay}`, 'sh', '-c', script(addr)]);
      expect(new Set(String(res.stdout).trim().split('\n'))).toEqual(new Set(names));
    }
  });

  it('resolves service names inside containers, and the client reaches both services by name', async () => {
    const web = await c.ok(['task', 'exec', 'img_client.1', '--', 'wget', '-q', '-O', '-', 'http://web/'], { timeoutMs: slowdown(30_000) });
    expect(web.trim()).toMatch(/^img_web\.[123]$/);
    const echo = await c.ok(['task', 'exec', 'img_client.1', '--', 'sh', '-c', 'nc web 80 </dev/null >/dev/null; echo | nc echo 7000'], { timeoutMs: slowdown(30_000) });
    expect(echo.trim()).toBe('img_echo.1');
    const resolv = await c.ok(['task', 'exec', 'img_client.1', '--', 'cat', '/etc/resolv.conf']);
    expect(resolv).toMatch(/^nameserver 172\.31\.0\.1$/m);
  });

  it('runs the task as a container: its own root filesystem, hostname, and no view of the node', async () => {
    const out = await c.ok(['task', 'exec', 'img_client.1', '--', 'sh', '-c', 'hostname; ls /; test -e /etc/os-release && echo NODE-FILES || echo own-root']);
    const [hostname, ...rest] = out.trim().split('\n');
    expect(hostname).toBe('img_client.1');
    expect(rest.at(-1)).toBe('own-root');
    expect(rest).not.toContain('var');
  });

  it("shows the container's output in service logs", async () => {
    const logs = await c.ok(['service', 'logs', 'img_web']);
    for (const n of ['img_web.1', 'img_web.2', 'img_web.3']) expect(logs).toMatch(new RegExp(`serving ${n.replace('.', '\\.')}$`, 'm'));
  });

  it('pulled the image into each node that runs it, from the registry', async () => {
    const web = await running('img_web');
    for (const node of new Set(web.map((t) => t.Node))) {
      const podman = await nodeStore(node);
      const images = String((await podman(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout).split('\n');
      expect(images).toContain(refs.web);
    }
  });

  it('keeps every container and serves every request while a node\'s meshd is killed -9 and restarted', async () => {
    const node = 'node-2';
    const before = (await c.list<TaskRow>(['service', 'ps', 'img_web'])).filter((t) => t.Node === node && t.DesiredState === 'Running');
    expect(before.length).toBeGreaterThan(0);
    const podman = await nodeStore(node);
    const ids = async () => String((await podman(['ps', '--format', '{{.ID}}', '--no-trunc'])).stdout).trim().split('\n').sort();
    const containersBefore = await ids();
    const loop = execa('nsenter', [`--net=${underlay}`, process.execPath, join(HELPERS, 'request-loop.mjs'), 'http://172.30.0.12:8080/', '6000', '50', '1000']);
    await new Promise((r) => setTimeout(r, 1_000));
    await c.ok(['dev', 'kill', node]);
    await c.ok(['dev', 'start', node]);
    const reqs = JSON.parse(String((await loop).stdout)) as { ok: boolean }[];
    expect(reqs.length).toBeGreaterThan(50);
    expect(reqs.filter((r) => !r.ok)).toEqual([]);
    await waitFor(`${node} adopted its containers`, async () => ((await c.meshdLog(node)).match(/adopted running task/g)?.length ?? 0) >= before.length ? true : undefined, slowdown(30_000), 250);
    expect(await ids()).toEqual(containersBefore);
  });

  // Exceeding the limit gets the task OOM-killed: podman 4.3 on this machine's cgroup v1 does not
  // record it (State.OOMKilled stays false), so meshd reads the kernel's oom-kill record.
  it('enforces a memory limit: set on the container\'s cgroup, and a task exceeding it is reported OOM-killed', async () => {
    const file = join(dir, 'limits.yml');
    await writeFile(file, `services:
  capped:
    image: ${refs.tools}
    deploy: { resources: { limits: { memory: 16M, pids: 50 } } }
  hog:
    image: ${refs.tools}
    command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]
    deploy: { resources: { limits: { memory: 16M } }, restart_policy: { condition: none } }
`);
    await c.ok(['stack', 'deploy', '--detach', '-c', file, 'lim'], { timeoutMs: 60_000 });
    const [capped] = await waitFor('capped running', async () => {
      const r = await running('lim_capped');
      return r.length === 1 ? r : undefined;
    }, slowdown(30_000), 250);
    const pid = await c.taskPid(capped!.Node, capped!.ID);
    const memoryCgroup = /^\d+:memory:(.*)$/m.exec(await readFile(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
    const v2 = /^0::(.*)$/m.exec(await readFile(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
    const limit = memoryCgroup !== undefined ? await readFile(`/sys/fs/cgroup/memory${memoryCgroup}/memory.limit_in_bytes`, 'utf8') : await readFile(`/sys/fs/cgroup${v2}/memory.max`, 'utf8');
    expect(Number(limit.trim())).toBe(16 * 1024 * 1024);
    const hog = await waitFor('the hog to fail', async () => {
      const rows = await c.list<TaskRow & { Error: string }>(['service', 'ps', 'lim_hog']);
      return rows[0]?.CurrentState.startsWith('Failed') ? rows[0] : undefined;
    }, slowdown(30_000), 250);
    expect(hog.Error).toMatch(/^OOM killed \(exit code 137\)/);
    await c.ok(['stack', 'rm', 'lim']);
  });

  it('mounts a bind path read-only and a named volume of the node, and runs an init as PID 1 (init: true)', async () => {
    const host = join(dir, 'host-config');
    await mkdir(host);
    await writeFile(join(host, 'hello'), 'from the node\n');
    const file = join(dir, 'volumes.yml');
    await writeFile(file, `services:
  app:
    image: ${refs.tools}
    init: true
    volumes: ["${host}:/config:ro", "cache:/cache", "/scratch"]
volumes:
  cache: {}
`);
    await c.ok(['stack', 'deploy', '-c', file, 'vol'], { timeoutMs: slowdown(90_000) });
    const exec = (script: string) => c.ok(['task', 'exec', 'vol_app.1', '--', 'sh', '-c', script]);
    expect(await exec('cat /config/hello; touch /config/x 2>&1 || echo refused')).toMatch(/^from the node\n.*Read-only file system\nrefused$/);
    expect(await exec('echo kept > /cache/f && cat /cache/f; echo anon > /scratch/f && cat /scratch/f')).toBe('kept\nanon');
    expect((await exec('cat /proc/1/comm')).trim()).toMatch(/^(catatonit|podman-init)$/);
    // The named volume is the node's own, named for the stack; it outlives the task (Swarm's semantics).
    const [task] = await running('vol_app');
    const podman = await nodeStore(task!.Node);
    expect(String((await podman(['volume', 'ls', '--format', '{{.Name}}'])).stdout).split('\n')).toContain('vol_cache');
    await c.ok(['stack', 'rm', 'vol']);
    await waitFor('the container gone', async () => (String((await podman(['ps', '-a', '--format', '{{.Names}}'])).stdout).includes(task!.ID) ? undefined : true), slowdown(30_000), 250);
    expect(String((await podman(['volume', 'ls', '--format', '{{.Name}}'])).stdout).trim().split('\n')).toEqual(['vol_cache']);
  });

  it('pulls from a registry that needs a login with --with-registry-auth, given only to the node that runs the task', async () => {
    const errorOf = async (svc: string) => (await c.list<TaskRow & { Error: string }>(['service', 'ps', svc]))[0]?.Error ?? '';
    const file = join(dir, 'private.yml');
    // On a worker (managers hold no node.creds to ask with), so node-3 is a node that does not run it.
    await writeFile(file, `services:\n  app:\n    image: ${refs.private}\n    deploy: { placement: { constraints: ["node.hostname == node-2"] } }\n`);
    // No login sent: the registry refuses the pull.
    await c.ok(['stack', 'deploy', '--detach', '-c', file, 'nologin']);
    await waitFor('"unauthorized" for the pull without a login', async () => ((await errorOf('nologin_app')).includes('unauthorized') ? true : undefined), slowdown(30_000), 250);
    // A wrong password, sent from the caller's login file: refused the same way.
    await writeLoginFile(join(dir, 'bad-auth.json'), PRIVATE, { ...LOGIN, password: 'wrong' });
    await c.ok(['stack', 'deploy', '--detach', '--with-registry-auth', '-c', file, 'login'], { env: { REGISTRY_AUTH_FILE: join(dir, 'bad-auth.json') } });
    await waitFor('"unauthorized" for the pull with a wrong password', async () => ((await errorOf('login_app')).includes('unauthorized') ? true : undefined), slowdown(30_000), 250);
    // The right one: the same task's next pull attempt succeeds.
    await c.ok(['stack', 'deploy', '--with-registry-auth', '-c', file, 'login'], { env: { REGISTRY_AUTH_FILE: join(dir, 'good-auth.json') }, timeoutMs: slowdown(90_000) }).catch(async (err: unknown) => {
      console.log(await c.logTails(40));
      throw err;
    });
    const [task] = await running('login_app');
    expect(task).toBeDefined();
    const [svc] = JSON.parse(await c.ok(['service', 'inspect', 'login_app'])) as { ID: string; Meshd: { RegistryAuth: string[] } }[];
    expect(svc!.Meshd.RegistryAuth).toEqual([PRIVATE]);
    // Only a node that runs a task of the service gets the login; no login file stays behind.
    const ask = async (node: string) => {
      const creds = JSON.parse(await readFile(join(c.nodeDir(node), 'state', 'node.creds'), 'utf8')) as { user: string; password: string };
      const arg = JSON.stringify({ servers: ['nats://172.30.0.11:4222'], user: creds.user, pass: creds.password, subject: `mesh.secret.${creds.user.slice('node-'.length)}.registry-auth`, payload: { serviceId: svc!.ID } });
      return JSON.parse(String((await execa('nsenter', [`--net=${underlay}`, process.execPath, join(HELPERS, 'nats-reply.mjs'), arg])).stdout)) as { reply?: { ok: boolean; result?: unknown; error?: { message: string } } };
    };
    expect(task!.Node).toBe('node-2');
    expect((await ask('node-2')).reply).toEqual({ ok: true, result: { auths: { [PRIVATE]: Buffer.from(`${LOGIN.user}:${LOGIN.password}`).toString('base64') } } });
    expect((await ask('node-3')).reply?.error?.message).toMatch(/^node \S+ runs no task of service /);
    const leftovers = await execa('find', [c.dir, '/run/meshd-containers', '-name', 'meshd-pull-auth-*'], { reject: false });
    expect(String(leftovers.stdout)).toBe('');
    await c.ok(['stack', 'rm', 'nologin']);
    await c.ok(['stack', 'rm', 'login']);
  });

  it('shows a missing image in service ps and retries the pull with backoff, in the same slot', async () => {
    const file = join(dir, 'missing.yml');
    await writeFile(file, `services:\n  ghost:\n    image: ${REGISTRY}/nope:1\n`);
    // The deploy stops waiting and says why (the node keeps the task and retries the pull).
    const deploy = await c.meshctl(['stack', 'deploy', '-c', file, 'miss'], { timeoutMs: 60_000 });
    expect({ code: deploy.code, says: deploy.stderr.includes('pulling 172.30.0.1:5000/nope:1: no such image') }).toEqual({ code: 1, says: true });
    const [task] = await waitFor('the pull error in service ps', async () => {
      const rows = await c.list<TaskRow & { Error: string }>(['service', 'ps', 'miss_ghost']);
      return rows.length === 1 && rows[0]!.Error.includes('no such image') ? rows : undefined;
    }, slowdown(30_000), 250);
    // Still one task in its slot (not replaced in a loop), retried by its node after 1, 2, 4 ... s.
    await new Promise((r) => setTimeout(r, 3_500));
    const rows = await c.list<TaskRow>(['service', 'ps', 'miss_ghost']);
    expect(rows.map((r) => r.ID)).toEqual([task!.ID]);
    const log = await c.meshdLog(task!.Node);
    const retries = [...log.matchAll(/image pull failed; retrying .*retryInMs=(\d+)/g)].map((m) => Number(m[1]));
    expect(retries.slice(0, 2)).toEqual([1_000, 2_000]);
    await c.ok(['stack', 'rm', 'miss']);
  });

  it("places tasks against each node's capacity (deploy.resources.reservations) and says when nothing fits", async () => {
    const [inspected] = JSON.parse(await c.ok(['node', 'inspect', 'node-2'])) as { Description: { Resources: { MemoryBytes: number; NanoCPUs: number } } }[];
    const { MemoryBytes: memory, NanoCPUs: cpus } = inspected!.Description.Resources;
    expect(cpus).toBeGreaterThan(0);
    // Each task reserves 60% of a node's memory: one fits per node, the fourth nowhere.
    const file = join(dir, 'reserve.yml');
    await writeFile(file, `services:\n  big:\n    command: ["sleep", "1000000"]\n    deploy: { replicas: 4, resources: { reservations: { memory: ${Math.floor(memory * 0.6)} } } }\n`);
    const deploy = await c.meshctl(['stack', 'deploy', '--timeout', '8', '-c', file, 'res']);
    expect(deploy.code).toBe(1);
    expect(deploy.stdout).toMatch(/^res_big: [0-3]\/4 running \(no suitable node: insufficient resources on 3 nodes \(each task reserves memory [\d.]+ MiB\)\)$/m);
    await waitFor('one task on each node', async () => ((await running('res_big')).length === 3 ? true : undefined), slowdown(30_000), 250);
    expect((await running('res_big')).map((t) => t.Node).sort()).toEqual(NODES);
    await c.ok(['stack', 'rm', 'res']);
  });

  it('pulls again at every task start with --resolve-image always (a tag moved in the registry); by default only when missing', async () => {
    const v = (n: string) => ({ tag: 'moving:1', files: { version: `${n}\n` }, lines: ['CMD ["sleep", "1000000"]'] });
    const ref = await builder.push(await builder.build(v('one')), REGISTRY, underlay);
    const file = join(dir, 'moving.yml');
    await writeFile(file, `services:\n  app:\n    image: ${ref}\n    deploy: { placement: { constraints: ["node.hostname == node-3"] } }\n`);
    const version = async () => (await c.ok(['task', 'exec', 'mov_app.1', '--', 'cat', '/version'])).trim();
    const restart = async () => {
      await c.ok(['service', 'scale', 'mov_app=0']);
      // Only history left: every task shut down (kept under its slot by `service ps`).
      await waitFor('no task of mov_app left running', async () => ((await c.list<TaskRow>(['service', 'ps', 'mov_app'])).every((t) => t.DesiredState === 'Shutdown' && /^(Shutdown|Complete|Failed)/.test(t.CurrentState)) ? true : undefined), slowdown(30_000), 250);
      await c.ok(['service', 'scale', 'mov_app=1']);
      await waitFor('mov_app running', async () => ((await running('mov_app')).length === 1 ? true : undefined), slowdown(60_000), 250);
    };
    await c.ok(['stack', 'deploy', '-c', file, 'mov'], { timeoutMs: slowdown(90_000) });
    expect(await version()).toBe('one');
    // The tag moves; a new task on the same node keeps the copy it has (pull when missing).
    await builder.push(await builder.build(v('two')), REGISTRY, underlay);
    await restart();
    expect(await version()).toBe('one');
    // With --resolve-image always (no new tasks by itself), the next task start pulls again.
    await c.ok(['stack', 'deploy', '--resolve-image', 'always', '-c', file, 'mov'], { timeoutMs: slowdown(90_000) });
    await restart();
    expect(await version()).toBe('two');
    await c.ok(['stack', 'rm', 'mov']);
  });

  // Last: it stops both registries, so what runs after it has no registry to pull from.
  it('puts an image archive on every node with meshctl image load, and runs it with no registry reachable', async () => {
    const missing = await c.meshctl(['image', 'load', '-i', join(dir, 'nope.tar')]);
    expect({ code: missing.code, err: missing.stderr.trim() }).toEqual({ code: 1, err: `meshctl: --input ${join(dir, 'nope.tar')}: cannot read: ENOENT` });
    const local = await builder.build({ tag: 'offline:1', lines: ['CMD ["sleep", "1000000"]'] });
    const archive = join(dir, 'offline.tar');
    await builder.save(local, archive);
    await registry.stop();
    await privateRegistry.stop();
    const out = await c.ok(['image', 'load', '-i', archive], { timeoutMs: slowdown(120_000) });
    expect(out.split('\n').sort()).toEqual(NODES.map((n) => `${n}: Loaded image: localhost/offline:1`));
    const file = join(dir, 'offline.yml');
    await writeFile(file, 'services:\n  app:\n    image: localhost/offline:1\n    deploy: { mode: global }\n');
    await c.ok(['stack', 'deploy', '-c', file, 'off'], { timeoutMs: slowdown(90_000) });
    const tasks = await running('off_app');
    expect(tasks.map((t) => t.Node).sort()).toEqual(NODES);
    await c.ok(['stack', 'rm', 'off']);
    for (const t of tasks) {
      const podman = await nodeStore(t.Node);
      await waitFor(`${t.Node} removed its container`, async () => (String((await podman(['ps', '-a', '--format', '{{.Names}}'])).stdout).includes(t.ID) ? undefined : true), slowdown(30_000), 250);
    }
  });
});
