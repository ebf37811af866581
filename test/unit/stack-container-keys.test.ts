import { describe, expect, it } from 'vitest';
import { FILE, parse, problemsOf } from './stack-helpers.js';
import { optionArgs, rlimitArgs } from '../../worker/engine/podman-argv.js';

const FULL = `services:
  web:
    image: registry.test:5000/web:1
    init: true
    working_dir: /srv
    stop_signal: SIGQUIT
    stop_grace_period: 3s
    read_only: true
    tmpfs: ["/run", "/tmp:size=64m,mode=1777"]
    cap_add: [net_admin]
    cap_drop: [ALL]
    sysctls: { net.core.somaxconn: 1024 }
    ulimits: { nofile: { soft: 1024, hard: 2048 }, core: 0 }
    extra_hosts: ["db.internal:10.1.2.3"]
    labels: [tier=front, team=web]
    deploy:
      resources: { limits: { cpus: "0.5", memory: 64M, pids: 100 }, reservations: { cpus: "0.25", memory: 32M } }
`;

describe('compose keys of a container', () => {
  it("converts every key to the model's container options", () => {
    const { spec, warnings } = parse(FULL);
    const web = spec.services.web!;
    expect(warnings).toEqual([]);
    expect({ stopSignal: web.stopSignal, stopGraceMs: web.stopGraceMs, reservations: web.reservations, container: web.container }).toEqual({
      stopSignal: 'SIGQUIT',
      stopGraceMs: 3_000,
      reservations: { nanoCpus: 250_000_000, memoryBytes: 32 * 1024 ** 2 },
      container: {
        init: true,
        workingDir: '/srv',
        readOnly: true,
        tmpfs: ['/run', '/tmp:size=64m,mode=1777'],
        capAdd: ['CAP_NET_ADMIN'],
        capDrop: ['ALL'],
        sysctls: { 'net.core.somaxconn': '1024' },
        ulimits: { nofile: { soft: 1024, hard: 2048 }, core: { soft: 0, hard: 0 } },
        extraHosts: ['db.internal:10.1.2.3'],
        labels: { tier: 'front', team: 'web' },
        limits: { nanoCpus: 500_000_000, memoryBytes: 64 * 1024 ** 2, pids: 100 },
      },
    });
  });

  it('renders them as podman flags (rlimits within what the node allows)', () => {
    const web = parse(FULL).spec.services.web!;
    expect(optionArgs(web.container!)).toEqual([
      '--init',
      '--workdir', '/srv',
      '--read-only',
      '--tmpfs', '/run',
      '--tmpfs', '/tmp:size=64m,mode=1777',
      '--cap-add', 'CAP_NET_ADMIN',
      '--cap-drop', 'ALL',
      '--sysctl', 'net.core.somaxconn=1024',
      '--ulimit', 'core=0:0',
      '--add-host', 'db.internal:10.1.2.3',
      '--label', 'team=web',
      '--label', 'tier=front',
      '--cpus', '0.5',
      '--memory', '67108864b',
      '--pids-limit', '100',
    ]);
    const node = { limits: { nofile: { soft: 20_000, hard: 20_000 }, nproc: { soft: 32_768, hard: 32_768 } } };
    expect(rlimitArgs(node, web.container)).toEqual(['--ulimit', 'nofile=1024:2048', '--ulimit', 'nproc=32768:32768']);
    expect(() => rlimitArgs(node, { ulimits: { nofile: { soft: 1_048_576, hard: 1_048_576 } } })).toThrow('ulimits.nofile: hard limit 1048576 exceeds what this node allows (20000)');
  });

  it('warns that a command service ignores container keys', () => {
    const { warnings } = parse('services:\n  job:\n    command: [sleep, "1"]\n    read_only: true\n    cap_add: [NET_ADMIN]\n');
    expect(warnings).toEqual(['services.job.read_only, services.job.cap_add: apply only to services with an image; ignored']);
  });

  it.each([
    ['working_dir: srv', 'services.web.working_dir: must be an absolute path, got "srv"'],
    ['stop_signal: SIGFOO', 'services.web.stop_signal: must be a signal name like "SIGTERM" (one of HUP, INT, QUIT, KILL, USR1, USR2, TERM, WINCH, PWR, STOP), got "SIGFOO"'],
    ['init: yes-please', 'services.web.init: must be true or false, got "yes-please"'],
    ['cap_add: [FLY]', 'services.web.cap_add[0]: unknown capability "FLY"'],
    ['tmpfs: run', 'services.web.tmpfs: must be an absolute path (optionally PATH:OPTIONS), got "run"'],
    ['ulimits: { nofile: { soft: 10, hard: 5 } }', 'services.web.ulimits.nofile: soft (10) must not exceed hard (5)'],
    ['ulimits: { files: 5 }', 'services.web.ulimits.files: unknown ulimit "files" (one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)'],
    ['extra_hosts: ["db:not-an-ip"]', 'services.web.extra_hosts[0]: must map "db" to an IPv4 address, got "not-an-ip"'],
    ['deploy: { resources: { limits: { memory: lots } } }', 'services.web.deploy.resources.limits.memory: must be a size like "64m" or "1g", got "lots"'],
    ['labels: { org.meshd.task.id: x }', 'services.web.labels."org.meshd.task.id": invalid label (org.meshd.* is meshd\'s own) "org.meshd.task.id"'],
    ['deploy: { resources: { reservations: { memory: lots } } }', 'services.web.deploy.resources.reservations.memory: must be a size like "64m" or "1g", got "lots"'],
    ['deploy: { resources: { limits: { cpus: 0 } } }', 'services.web.deploy.resources.limits.cpus: must be a number of CPUs above 0 like "0.5", got 0'],
  ])('refuses %s, naming the key', (line, problem) => {
    expect(problemsOf(`services:\n  web:\n    image: x\n    ${line}\n`)).toEqual([`${FILE}: ${problem}`]);
  });
});
