import { describe, expect, it } from 'vitest';
import { DEFAULT_UPDATE_CONFIG, type StackSpec } from '../../core/model.js';
import { parse } from './stack-helpers.js';

const FULL_STACK = `
version: "3.8"
x-defaults: &env
  LOG_LEVEL: info
services:
  web:
    image: nginx:1.25
    build: ./web
    command: python3 -m http.server "80" --bind '0.0.0.0'
    environment:
      <<: *env
      WORKERS: 4
      DEBUG: false
      EMPTY:
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.5"}
      update_config: {parallelism: 1}
      placement:
        constraints:
          - node.role==worker
          - "node.labels.zone != eu-1"
          - node.hostname == node-2
        preferences: [{spread: node.labels.zone}]
      restart_policy:
        condition: on-failure
        delay: 1m30.5s
        max_attempts: 5
        window: 120s
    ports:
      - "8080:80"
      - "9000-9001:90-91/udp"
      - 7000
      - target: 443
        published: "8443"
        mode: host
      - {target: 53, protocol: udp}
    networks:
      frontend:
        aliases: [www, web-alias]
      backend:
        ipv4_address: 10.0.9.9
    healthcheck:
      test: ["CMD", "curl", "-fsS", "http://localhost/health"]
      interval: 10s
      timeout: 500ms
      retries: 5
      start_period: 1m
    labels: {tier: front}
  api:
    entrypoint: ["/usr/bin/api"]
    command: ["--port", "8000"]
    environment:
      - DB_HOST=db
      - "EQUALS=a=b"
      - NO_VALUE
    deploy:
      mode: global
      endpoint_mode: dnsrr
    ports:
      - {target: 8000, published: 8000, mode: host}
    networks: [backend, default]
    healthcheck:
      test: curl -f http://localhost:8000/ || exit 1
  worker:
    command: ["sleep", "infinity"]
    healthcheck:
      disable: true
  cron:
    command: run-cron
    healthcheck:
      test: ["CMD-SHELL", "pgrep cron"]
networks:
  frontend:
    driver: overlay
    attachable: true
    ipam:
      config:
        - subnet: 10.10.0.0/24
  backend:
    internal: true
    driver_opts: {encrypted: ""}
  spare:
volumes:
  data: {}
secrets:
  token: {file: ./token}
x-other: ignored
`;

const RESTART_DEFAULT = { condition: 'any', delayMs: 5000, maxAttempts: 0 } as const;
const UPDATES_DEFAULT = { updateConfig: { ...DEFAULT_UPDATE_CONFIG }, rollbackConfig: { ...DEFAULT_UPDATE_CONFIG } };

const FULL_SPEC: StackSpec = {
  services: {
    web: {
      name: 'web',
      image: 'nginx:1.25',
      command: ['python3', '-m', 'http.server', '80', '--bind', '0.0.0.0'],
      environment: { LOG_LEVEL: 'info', WORKERS: '4', DEBUG: 'false', EMPTY: '' },
      mode: 'replicated',
      replicas: 3,
      endpointMode: 'vip',
      constraints: [
        { key: 'node.role', op: '==', value: 'worker' },
        { key: 'node.labels.zone', op: '!=', value: 'eu-1' },
        { key: 'node.hostname', op: '==', value: 'node-2' },
      ],
      restartPolicy: { condition: 'on-failure', delayMs: 90_500, maxAttempts: 5 },
      updateConfig: { ...DEFAULT_UPDATE_CONFIG },
      rollbackConfig: { ...DEFAULT_UPDATE_CONFIG },
      ports: [
        { protocol: 'tcp', target: 80, published: 8080, mode: 'ingress' },
        { protocol: 'udp', target: 90, published: 9000, mode: 'ingress' },
        { protocol: 'udp', target: 91, published: 9001, mode: 'ingress' },
        { protocol: 'tcp', target: 7000, mode: 'ingress' },
        { protocol: 'tcp', target: 443, published: 8443, mode: 'host' },
        { protocol: 'udp', target: 53, mode: 'ingress' },
      ],
      networks: [
        { name: 'frontend', aliases: ['www', 'web-alias'] },
        { name: 'backend', aliases: [] },
      ],
      healthcheck: {
        test: { type: 'cmd', argv: ['curl', '-fsS', 'http://localhost/health'] },
        intervalMs: 10_000,
        timeoutMs: 500,
        retries: 5,
        startPeriodMs: 60_000,
      },
      container: { labels: { tier: 'front' }, limits: { nanoCpus: 500_000_000 } },
    },
    api: {
      name: 'api',
      entrypoint: ['/usr/bin/api'],
      command: ['--port', '8000'],
      environment: { DB_HOST: 'db', EQUALS: 'a=b', NO_VALUE: '' },
      mode: 'global',
      replicas: 0,
      endpointMode: 'dnsrr',
      constraints: [],
      restartPolicy: RESTART_DEFAULT,
      ...UPDATES_DEFAULT,
      ports: [{ protocol: 'tcp', target: 8000, published: 8000, mode: 'host' }],
      networks: [
        { name: 'backend', aliases: [] },
        { name: 'default', aliases: [] },
      ],
      healthcheck: {
        test: { type: 'shell', script: 'curl -f http://localhost:8000/ || exit 1' },
        intervalMs: 30_000,
        timeoutMs: 30_000,
        retries: 3,
        startPeriodMs: 0,
      },
    },
    worker: {
      name: 'worker',
      command: ['sleep', 'infinity'],
      environment: {},
      mode: 'replicated',
      replicas: 1,
      endpointMode: 'vip',
      constraints: [],
      restartPolicy: RESTART_DEFAULT,
      ...UPDATES_DEFAULT,
      ports: [],
      networks: [{ name: 'default', aliases: [] }],
      healthcheck: { test: { type: 'none' }, intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 },
    },
    cron: {
      name: 'cron',
      command: ['run-cron'],
      environment: {},
      mode: 'replicated',
      replicas: 1,
      endpointMode: 'vip',
      constraints: [],
      restartPolicy: RESTART_DEFAULT,
      ...UPDATES_DEFAULT,
      ports: [],
      networks: [{ name: 'default', aliases: [] }],
      healthcheck: { test: { type: 'shell', script: 'pgrep cron' }, intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0 },
    },
  },
  networks: {
    frontend: { name: 'frontend', driver: 'overlay', attachable: true, internal: false, subnet: '10.10.0.0/24' },
    backend: { name: 'backend', driver: 'overlay', attachable: false, internal: true },
    spare: { name: 'spare', driver: 'overlay', attachable: false, internal: false },
    default: { name: 'default', driver: 'overlay', attachable: false, internal: false },
  },
};

describe('parseStack: a full valid stack', () => {
  it('normalises every supported field into the StackSpec', () => {
    const { spec } = parse(FULL_STACK);
    expect(spec).toEqual(FULL_SPEC);
  });

  it('reports unsupported options in one sorted warning', () => {
    const { warnings } = parse(FULL_STACK);
    expect(warnings).toEqual([
      'Ignoring unsupported options: networks.backend.driver_opts, secrets, services.web.build, services.web.deploy.placement.preferences, ' +
        'services.web.deploy.restart_policy.window, ' +
        'services.web.networks.backend.ipv4_address',
    ]);
  });

  it('keeps services and networks in file order', () => {
    const { spec } = parse(FULL_STACK);
    expect(Object.keys(spec.services)).toEqual(['web', 'api', 'worker', 'cron']);
    expect(Object.keys(spec.networks)).toEqual(['frontend', 'backend', 'spare', 'default']);
  });
});

describe('parseStack: small valid stacks', () => {
  it('gives a service with no networks the default network, and adds it to the stack', () => {
    const { spec, warnings } = parse('services:\n  a:\n    command: x\n');
    expect(warnings).toEqual([]);
    expect(spec).toEqual({
      services: {
        a: {
          name: 'a',
          command: ['x'],
          environment: {},
          mode: 'replicated',
          replicas: 1,
          endpointMode: 'vip',
          constraints: [],
          restartPolicy: RESTART_DEFAULT,
          ...UPDATES_DEFAULT,
      ...UPDATES_DEFAULT,
          ports: [],
          networks: [{ name: 'default', aliases: [] }],
        },
      },
      networks: { default: { name: 'default', driver: 'overlay', attachable: false, internal: false } },
    });
  });

  it('uses a declared default network as written', () => {
    const text = 'services: {a: {command: x}}\nnetworks:\n  default:\n    attachable: true\n    ipam: {config: [{subnet: 10.9.0.0/16}]}\n';
    expect(parse(text).spec.networks).toEqual({
      default: { name: 'default', driver: 'overlay', attachable: true, internal: false, subnet: '10.9.0.0/16' },
    });
  });

  it('does not add the default network when no service uses it', () => {
    const text = 'services: {a: {command: x, networks: [n]}}\nnetworks: {n: null}\n';
    expect(Object.keys(parse(text).spec.networks)).toEqual(['n']);
  });

  it.each([
    ['500ms', 500],
    ['1.5s', 1500],
    ['10us', 1],
    ['1h2m3s', 3_723_000],
    ['0', 0],
    ['0s', 0],
    [7, 7000],
    ['+2m', 120_000],
    ['1µs', 1],
    ['.5s', 500],
  ])('reads the duration %j as %d ms', (delay, ms) => {
    const text = `services: {a: {command: x, deploy: {restart_policy: {delay: ${JSON.stringify(delay)}}}}}\n`;
    expect(parse(text).spec.services.a?.restartPolicy.delayMs).toBe(ms);
  });

  it.each([
    ['a b  c', ['a', 'b', 'c']],
    [`sh -c "echo \\"hi\\" \\$HOME"`, ['sh', '-c', 'echo "hi" $HOME']],
    [`echo 'a  b' c\\ d`, ['echo', 'a  b', 'c d']],
    [`printf ''`, ['printf', '']],
    ['echo "a|b" \'x;y\'', ['echo', 'a|b', 'x;y']],
  ])('splits the command %j into shell words', (command, argv) => {
    expect(parse(`services: {a: {command: ${JSON.stringify(command)}}}\n`).spec.services.a?.command).toEqual(argv);
  });

  it('accepts YAML merge keys, anchors and x- extensions anywhere', () => {
    const text = 'x-base: &base {command: x, x-note: hi}\nservices:\n  a:\n    <<: *base\n    deploy: {replicas: 2, x-extra: 1}\n';
    const { spec, warnings } = parse(text);
    expect(spec.services.a?.command).toEqual(['x']);
    expect(spec.services.a?.replicas).toBe(2);
    expect(warnings).toEqual([]);
  });

  it('allows dnsrr with host-mode ports and replicas 0', () => {
    const text = 'services:\n  a:\n    command: x\n    deploy: {endpoint_mode: dnsrr, replicas: 0}\n    ports: [{target: 80, published: 80, mode: host}]\n';
    expect(parse(text).spec.services.a).toMatchObject({ endpointMode: 'dnsrr', replicas: 0 });
  });

  it('accepts a stack name of 40 characters and a full service name of 63', () => {
    const stack = 's'.repeat(40);
    const name = 'n'.repeat(22);
    expect(Object.keys(parse(`services: {${name}: {command: x}}\n`, stack).spec.services)).toEqual([name]);
  });
});

