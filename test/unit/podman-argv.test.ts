import { describe, expect, it } from 'vitest';
import { createArgv, isLatest, loadedImages, pullArgv, qualifyImage, registryOf, removeArgv, stopArgv, type PodmanSetup } from '../../worker/engine/podman-argv.js';
import { healthcheckFromImage, pullReason } from '../../worker/engine/podman.js';
import { pullRetryDelayMs } from '../../worker/engine/pull-backoff.js';
import { textOfK8sFile } from '../../worker/engine/container-log.js';

const SETUP: PodmanSetup = {
  binary: '/usr/bin/podman',
  version: '4.3.1',
  root: '/var/lib/meshd/containers/storage',
  runroot: '/run/meshd/containers',
  runtime: '/usr/sbin/runc',
  cgroupManager: 'cgroupfs',
  cgroupParent: 'meshd',
  storageDriver: 'vfs',
  limits: { nofile: { soft: 1024, hard: 524288 }, nproc: { soft: 32768, hard: 32768 } },
  insecureRegistries: ['registry.test:5000'],
};
const GLOBAL = ['/usr/bin/podman', '--root', '/var/lib/meshd/containers/storage', '--runroot', '/run/meshd/containers', '--runtime', '/usr/sbin/runc', '--cgroup-manager', 'cgroupfs', '--storage-driver', 'vfs', '--events-backend', 'file', '--tmpdir', '/run/meshd/containers/libpod'];
const TASK = 'a'.repeat(25);

describe('podman command lines', () => {
  it('creates a task container in the task sandbox: hostname, DNS, rlimit, log, labels, env, no pull', () => {
    expect(
      createArgv(SETUP, {
        taskId: TASK,
        taskName: 'shop_web.1',
        serviceName: 'shop_web',
        nodeId: 'n1',
        image: 'registry.test:5000/web:1',
        netns: '/run/meshd/netns/t_aaaaaaaaaaaa',
        dns: '172.31.0.1',
        logPath: `/run/meshd/tasks/${TASK}/task.log`,
        env: { MESH_TASK_NAME: 'shop_web.1', A: 'b c' },
        command: ['httpd', '-f'],
        user: '1000:1000',
      }),
    ).toEqual([
      ...GLOBAL,
      'create',
      '--name', `meshd-${TASK}`,
      '--network', 'ns:/run/meshd/netns/t_aaaaaaaaaaaa',
      '--hostname', 'shop_web.1',
      '--dns', '172.31.0.1',
      '--dns-option', 'ndots:0',
      '--ulimit', 'nofile=1024:524288',
      '--ulimit', 'nproc=32768:32768',
      '--no-healthcheck',
      '--log-driver', 'k8s-file',
      '--log-opt', `path=/run/meshd/tasks/${TASK}/task.log`,
      '--label', `org.meshd.task.id=${TASK}`,
      '--label', 'org.meshd.task.name=shop_web.1',
      '--label', 'org.meshd.service.name=shop_web',
      '--label', 'org.meshd.node.id=n1',
      '--pull', 'never',
      '--cgroup-parent', '/meshd',
      '--env', 'A=b c',
      '--env', 'MESH_TASK_NAME=shop_web.1',
      '--user', '1000:1000',
      'registry.test:5000/web:1',
      'httpd', '-f',
    ]);
  });

  it("passes a compose entrypoint as podman's JSON list (it replaces the image's ENTRYPOINT and CMD)", () => {
    const argv = createArgv(SETUP, { taskId: TASK, taskName: 't.1', serviceName: 't', nodeId: 'n', image: 'x', netns: '/n', dns: '1.2.3.4', logPath: '/l', env: {}, entrypoint: ['sh', '-c', 'echo "hi"'] });
    expect(argv.slice(-3)).toEqual(['--entrypoint', '["sh","-c","echo \\"hi\\""]', 'x']);
  });

  it('pulls over plain HTTP only from registries named insecure', () => {
    expect(pullArgv(SETUP, 'registry.test:5000/web:1')).toEqual([...GLOBAL, 'pull', '--quiet', '--tls-verify=false', 'registry.test:5000/web:1']);
    expect(pullArgv(SETUP, 'other.test/web:1')).toEqual([...GLOBAL, 'pull', '--quiet', 'other.test/web:1']);
    // A login goes in a file, never on the command line (/proc/<pid>/cmdline is world-readable).
    expect(pullArgv(SETUP, 'other.test/web:1', { authFile: '/run/x/meshd-pull-auth-1.json' })).toEqual([...GLOBAL, 'pull', '--quiet', '--authfile', '/run/x/meshd-pull-auth-1.json', 'other.test/web:1']);
  });

  it('reads the images podman load reports', () => {
    expect(loadedImages('Getting image source signatures\nLoaded image: localhost/a:1\n')).toEqual(['localhost/a:1']);
    expect(loadedImages('Loaded image(s): localhost/a:1, r.test/b:2\n')).toEqual(['localhost/a:1', 'r.test/b:2']);
    expect(loadedImages('')).toEqual([]);
  });

  it('stops with the grace period in whole seconds and removes with anonymous volumes', () => {
    expect(stopArgv(SETUP, TASK, 2_500)).toEqual([...GLOBAL, 'stop', '--time', '3', `meshd-${TASK}`]);
    expect(removeArgv(SETUP, TASK)).toEqual([...GLOBAL, 'rm', '--force', '--volumes', '--ignore', `meshd-${TASK}`]);
  });

  it("qualifies short image names as Docker does (podman would ask registries.conf)", () => {
    expect(['nginx', 'nginx:1.25', 'org/app:1', 'docker.io/library/x', 'localhost/web:1', 'registry.test:5000/web:1', 'ghcr.io/o/r'].map(qualifyImage)).toEqual([
      'docker.io/library/nginx',
      'docker.io/library/nginx:1.25',
      'docker.io/org/app:1',
      'docker.io/library/x',
      'localhost/web:1',
      'registry.test:5000/web:1',
      'ghcr.io/o/r',
    ]);
  });

  it('tells the registry and the latest tag of an image reference', () => {
    expect(['nginx', 'library/nginx:1', 'localhost/x', 'registry.test:5000/a/b:2', 'ghcr.io/o/r@sha256:ab'].map(registryOf)).toEqual(['docker.io', 'docker.io', 'localhost', 'registry.test:5000', 'ghcr.io']);
    expect(['nginx', 'nginx:latest', 'nginx:1', 'registry.test:5000/web', 'registry.test:5000/web:2', 'x@sha256:ab'].map(isLatest)).toEqual([true, true, false, true, false, false]);
  });
});

describe('image pulls', () => {
  it("shortens podman's pull errors to what an operator acts on", () => {
    expect(pullReason('Trying to pull registry.test:5000/nope:1...\nError: initializing source docker://registry.test:5000/nope:1: reading manifest 1 in registry.test:5000/nope: manifest unknown: manifest unknown')).toBe('no such image');
    expect(pullReason('Error: initializing source docker://r:5000/a:1: reading manifest 1 in r:5000/a: unauthorized: authentication required')).toBe('unauthorized');
    expect(pullReason('Error: initializing source docker://r:5000/a:1: pinging container registry r:5000: Get "http://r:5000/v2/": dial tcp 10.0.0.1:5000: connect: connection refused')).toBe('connection refused');
    expect(pullReason('Error: something new')).toBe('something new');
  });

  it('retries a failed pull after 1 s, doubling to at most 60 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(pullRetryDelayMs)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });
});

describe("a container's log (podman's k8s-file records)", () => {
  it('gives back the text as written, joining partial records', () => {
    const log = [
      '2026-12-03T08:00:00.000000001+00:00 stdout F hello',
      '2026-12-03T08:00:00.000000002+00:00 stderr P part one, ',
      '2026-12-03T08:00:00.000000003+00:00 stderr F part two',
      '2026-12-03T08:00:00.000000004+00:00 stdout F ',
      '',
    ].join('\n');
    expect(textOfK8sFile(log)).toBe('hello\npart one, part two\n\n');
  });
});

describe("an image's HEALTHCHECK", () => {
  it("reads CMD, CMD-SHELL and NONE with Docker's defaults for what the image leaves out", () => {
    expect(healthcheckFromImage({ Test: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1/ || exit 1'], Interval: 1e9, Timeout: 1e9 })).toEqual({
      test: { type: 'shell', script: 'wget -q -O /dev/null http://127.0.0.1/ || exit 1' },
      intervalMs: 1_000,
      timeoutMs: 1_000,
      retries: 3,
      startPeriodMs: 0,
    });
    expect(healthcheckFromImage({ Test: ['CMD', 'check', '--fast'], Retries: 5, StartPeriod: 2e9 })).toEqual({ test: { type: 'cmd', argv: ['check', '--fast'] }, intervalMs: 30_000, timeoutMs: 30_000, retries: 5, startPeriodMs: 2_000 });
    expect(healthcheckFromImage({ Test: ['NONE'] })?.test).toEqual({ type: 'none' });
    expect(healthcheckFromImage({})).toBeUndefined();
  });
});
