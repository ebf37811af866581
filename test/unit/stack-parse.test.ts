import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../core/errors.js';
import type { StackSpec } from '../../core/model.js';
import { MAX_FILE_BYTES, parseStack } from '../../manager/stack/parse.js';

const FILE = 'stack.yml';

function parse(text: string, stackName = 'shop') {
  return parseStack(text, { file: FILE, stackName });
}

/** The problems a text is rejected with; fails the test when it parses. */
function problemsOf(text: string, stackName = 'shop'): readonly string[] {
  try {
    parse(text, stackName);
  } catch (err) {
    if (err instanceof ValidationError) return err.problems;
    throw err;
  }
  throw new Error('expected a ValidationError, but the stack parsed');
}

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

  it('reports unsupported options in one sorted warning, then unused images', () => {
    const { warnings } = parse(FULL_STACK);
    expect(warnings).toEqual([
      'Ignoring unsupported options: networks.backend.driver_opts, secrets, services.web.build, services.web.deploy.placement.preferences, ' +
        'services.web.deploy.resources, services.web.deploy.restart_policy.window, services.web.deploy.update_config, ' +
        'services.web.labels, services.web.networks.backend.ipv4_address, volumes',
      'services.web.image: recorded but not used (meshd runs commands, not images)',
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

const TAB_YAML = 'services:\n\tweb:\n';

/** Each row: a file and the exact problems it is rejected with. */
const INVALID: [label: string, text: string, problems: string[]][] = [
  // --- the file itself ---
  ['empty file', '', [`${FILE}: file is empty`]],
  ['comments only', '# nothing\n', [`${FILE}: file is empty`]],
  ['root is a list', '- a\n- b\n', [`${FILE}: the top level must be a mapping, got a list`]],
  ['root is a scalar', 'hello\n', [`${FILE}: the top level must be a mapping, got "hello"`]],
  ['duplicate key', 'services:\n  a: {command: x}\n  a: {command: y}\n', [`${FILE}: line 3, column 3: Map keys must be unique`]],
  ['duplicate nested key', 'services:\n  a:\n    command: x\n    command: y\n', [`${FILE}: line 4, column 5: Map keys must be unique`]],
  ['unclosed flow sequence', 'services: [\n', [`${FILE}: line 2, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]`]],
  ['tab indentation', TAB_YAML, [`${FILE}: line 2, column 1: Tabs are not allowed as indentation`]],
  ['two documents', 'services: {}\n---\nservices: {}\n', [`${FILE}: line 2, column 1: a stack file holds exactly one YAML document`]],
  ['unresolved alias', 'services: {a: {command: *nope}}\n', [`${FILE}: cannot read the YAML: Unresolved alias (the anchor must be set before the alias): nope`]],
  // --- top level ---
  ['no services', 'version: "3"\n', [`${FILE}: services: required`]],
  ['empty services', 'services: {}\n', [`${FILE}: services: must define at least one service`]],
  ['services is a list', 'services: [a]\n', [`${FILE}: services: must be a mapping of service names to services, got a list`]],
  ['networks is a list', 'services: {a: {command: x}}\nnetworks: [a]\n', [`${FILE}: networks: must be a mapping of network names to networks, got a list`]],
  ['__proto__ as a service name', 'services:\n  __proto__: {command: x}\n  b: {command: x}\n', [`${FILE}: services.__proto__: "__proto__" is not allowed as a key`]],
  // --- names ---
  ['invalid service name', 'services: {"my web": {command: x}}\n', [`${FILE}: services."my web": invalid name; must match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$`]],
  ['service name starting with _', 'services: {_web: {command: x}}\n', [`${FILE}: services._web: invalid name; must match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$`]],
  [
    'full service name too long',
    `services: {${'n'.repeat(59)}: {command: x}}\n`,
    [`${FILE}: services.${'n'.repeat(59)}: "shop_${'n'.repeat(59)}" is 64 characters; the limit is 63`],
  ],
  ['invalid network name', 'services: {a: {command: x}}\nnetworks: {"back.end": null}\n', [`${FILE}: networks."back.end": invalid name; must match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$`]],
  // --- types ---
  ['service is a scalar', 'services: {a: 3}\n', [`${FILE}: services.a: must be a mapping, got 3`]],
  ['service is null', 'services:\n  a:\n', [`${FILE}: services.a: must be a mapping, got null`]],
  ['image is a number', 'services: {a: {command: x, image: 3}}\n', [`${FILE}: services.a.image: must be a string, got 3`]],
  ['command is a number', 'services: {a: {command: 3}}\n', [`${FILE}: services.a.command: must be a string or a list of strings, got 3`]],
  ['command list with a number', 'services: {a: {command: [echo, 1]}}\n', [`${FILE}: services.a.command[1]: must be a string, got 1`]],
  ['empty command list', 'services: {a: {command: []}}\n', [`${FILE}: services.a.command: must not be empty`]],
  ['blank command string', 'services: {a: {command: "  "}}\n', [`${FILE}: services.a.command: must not be empty`]],
  ['replicas as a word', 'services: {a: {command: x, deploy: {replicas: three}}}\n', [`${FILE}: services.a.deploy.replicas: must be an integer >= 0, got "three"`]],
  ['negative replicas', 'services: {a: {command: x, deploy: {replicas: -1}}}\n', [`${FILE}: services.a.deploy.replicas: must be an integer >= 0, got -1`]],
  ['fractional replicas', 'services: {a: {command: x, deploy: {replicas: 1.5}}}\n', [`${FILE}: services.a.deploy.replicas: must be an integer >= 0, got 1.5`]],
  ['unknown deploy mode', 'services: {a: {command: x, deploy: {mode: daemon}}}\n', [`${FILE}: services.a.deploy.mode: must be one of replicated, global, got "daemon"`]],
  ['unknown endpoint mode', 'services: {a: {command: x, deploy: {endpoint_mode: lb}}}\n', [`${FILE}: services.a.deploy.endpoint_mode: must be one of vip, dnsrr, got "lb"`]],
  ['deploy is a list', 'services: {a: {command: x, deploy: [1]}}\n', [`${FILE}: services.a.deploy: must be a mapping, got a list`]],
  ['bad restart condition', 'services: {a: {command: x, deploy: {restart_policy: {condition: always}}}}\n', [`${FILE}: services.a.deploy.restart_policy.condition: must be one of none, on-failure, any, got "always"`]],
  ['negative max_attempts', 'services: {a: {command: x, deploy: {restart_policy: {max_attempts: -2}}}}\n', [`${FILE}: services.a.deploy.restart_policy.max_attempts: must be an integer >= 0, got -2`]],
  ['attachable not a boolean', 'services: {a: {command: x}}\nnetworks: {n: {attachable: "yes"}}\n', [`${FILE}: networks.n.attachable: must be true or false, got "yes"`]],
  // --- command ---
  ['no command or entrypoint', 'services: {a: {image: nginx}}\n', [`${FILE}: services.a.command: required: meshd runs a command per task, not an image`]],
  [
    'shell operator in a command string',
    'services: {a: {command: "make && run"}}\n',
    [`${FILE}: services.a.command: contains the shell operator "&" in "make && run"; meshd runs commands without a shell: quote it, or use a list like ["sh", "-c", "..."]`],
  ],
  ['unterminated quote', `services: {a: {entrypoint: "echo 'hi"}}\n`, [`${FILE}: services.a.entrypoint: has an unterminated single quote: "echo 'hi"`]],
  // --- environment ---
  ['bad env name in a mapping', 'services: {a: {command: x, environment: {1BAD: x}}}\n', [`${FILE}: services.a.environment.1BAD: invalid variable name "1BAD"; must match ^[A-Za-z_][A-Za-z0-9_]*$`]],
  ['bad env name in a list', 'services: {a: {command: x, environment: ["MY-VAR=1"]}}\n', [`${FILE}: services.a.environment[0]: invalid variable name "MY-VAR"; must match ^[A-Za-z_][A-Za-z0-9_]*$`]],
  ['env value is a list', 'services: {a: {command: x, environment: {A: [1]}}}\n', [`${FILE}: services.a.environment.A: must be a string, number, boolean or null, got a list`]],
  ['env list repeats a name', 'services: {a: {command: x, environment: [A=1, A=2]}}\n', [`${FILE}: services.a.environment[1]: "A" is also set by environment[0]`]],
  ['environment is a number', 'services: {a: {command: x, environment: 5}}\n', [`${FILE}: services.a.environment: must be a mapping or a list of "KEY=VALUE" strings, got 5`]],
  // --- deploy checks across fields ---
  ['global with replicas', 'services: {a: {command: x, deploy: {mode: global, replicas: 2}}}\n', [`${FILE}: services.a.deploy.replicas: cannot be set when deploy.mode is global`]],
  [
    'dnsrr with an ingress port',
    'services: {a: {command: x, deploy: {endpoint_mode: dnsrr}, ports: [{target: 80, published: 80, mode: host}, "8080:80"]}}\n',
    [`${FILE}: services.a.deploy.endpoint_mode: dnsrr cannot be used with ingress-mode ports (services.a.ports[1]); publish them with mode: host`],
  ],
  // --- constraints ---
  ['constraint without an operator', 'services: {a: {command: x, deploy: {placement: {constraints: ["node.role=manager"]}}}}\n', [
    `${FILE}: services.a.deploy.placement.constraints[0]: must look like "node.<key> == <value>" or "node.<key> != <value>", got "node.role=manager"`,
  ]],
  ['unsupported constraint key', 'services: {a: {command: x, deploy: {placement: {constraints: ["engine.labels.ssd == true"]}}}}\n', [
    `${FILE}: services.a.deploy.placement.constraints[0]: unsupported constraint key "engine.labels.ssd"; use node.id, node.hostname, node.role or node.labels.<name>`,
  ]],
  ['bad node.role value', 'services: {a: {command: x, deploy: {placement: {constraints: ["node.role == leader"]}}}}\n', [
    `${FILE}: services.a.deploy.placement.constraints[0]: node.role must be manager or worker, got "leader"`,
  ]],
  ['constraint with an empty value', 'services: {a: {command: x, deploy: {placement: {constraints: ["node.hostname == "]}}}}\n', [
    `${FILE}: services.a.deploy.placement.constraints[0]: has no single value to compare with: "node.hostname == "`,
  ]],
  // --- durations ---
  ['duration without a unit', 'services: {a: {command: x, deploy: {restart_policy: {delay: "10"}}}}\n', [
    `${FILE}: services.a.deploy.restart_policy.delay: must be a duration like "30s", "1m30s" or "500ms", or a whole number of seconds, got "10"`,
  ]],
  ['duration with an unknown unit', 'services: {a: {command: x, deploy: {restart_policy: {delay: 3d}}}}\n', [
    `${FILE}: services.a.deploy.restart_policy.delay: must be a duration like "30s", "1m30s" or "500ms", or a whole number of seconds, got "3d"`,
  ]],
  ['negative duration', 'services: {a: {command: x, deploy: {restart_policy: {delay: -5s}}}}\n', [`${FILE}: services.a.deploy.restart_policy.delay: must not be negative, got "-5s"`]],
  ['zero healthcheck interval', 'services: {a: {command: x, healthcheck: {test: "true", interval: 0s}}}\n', [`${FILE}: services.a.healthcheck.interval: must be greater than 0, got "0s"`]],
  ['fractional seconds as a number', 'services: {a: {command: x, healthcheck: {test: "true", timeout: 1.5}}}\n', [
    `${FILE}: services.a.healthcheck.timeout: must be a duration like "30s", "1m30s" or "500ms", or a whole number of seconds, got 1.5`,
  ]],
  ['duration beyond int64 nanoseconds', 'services: {a: {command: x, deploy: {restart_policy: {delay: 3000000h}}}}\n', [
    `${FILE}: services.a.deploy.restart_policy.delay: must be a duration like "30s", "1m30s" or "500ms", or a whole number of seconds, got "3000000h"`,
  ]],
  // --- healthcheck ---
  ['healthcheck test kind', 'services: {a: {command: x, healthcheck: {test: ["RUN", "true"]}}}\n', [`${FILE}: services.a.healthcheck.test: must start with "CMD", "CMD-SHELL" or "NONE", got "RUN"`]],
  ['healthcheck CMD without a command', 'services: {a: {command: x, healthcheck: {test: ["CMD"]}}}\n', [`${FILE}: services.a.healthcheck.test: ["CMD", ...] needs a command after "CMD"`]],
  ['healthcheck disable with test', 'services: {a: {command: x, healthcheck: {test: "true", disable: true}}}\n', [`${FILE}: services.a.healthcheck.disable: cannot be combined with test`]],
  ['healthcheck without test', 'services: {a: {command: x, healthcheck: {interval: 5s}}}\n', [`${FILE}: services.a.healthcheck.test: required (or disable: true)`]],
  ['healthcheck retries 0', 'services: {a: {command: x, healthcheck: {test: "true", retries: 0}}}\n', [`${FILE}: services.a.healthcheck.retries: must be an integer >= 1, got 0`]],
  // --- ports ---
  ['host IP binding', 'services: {a: {command: x, ports: ["127.0.0.1:8080:80"]}}\n', [
    `${FILE}: services.a.ports[0]: binding to a host IP is not supported, got "127.0.0.1:8080:80"; use "published:target"`,
  ]],
  ['host_ip in the long form', 'services: {a: {command: x, ports: [{target: 80, published: 80, host_ip: 0.0.0.0}]}}\n', [`${FILE}: services.a.ports[0].host_ip: binding to a host IP is not supported`]],
  ['port 0', 'services: {a: {command: x, ports: ["0:80"]}}\n', [
    `${FILE}: services.a.ports[0]: published port must be a number from 1 to 65535 (or a range like 8080-8081), got "0"`,
  ]],
  ['port above 65535', 'services: {a: {command: x, ports: [{target: 70000}]}}\n', [`${FILE}: services.a.ports[0].target: must be an integer from 1 to 65535, got 70000`]],
  ['port number above 65535 in short form', 'services: {a: {command: x, ports: [65536]}}\n', [`${FILE}: services.a.ports[0]: must be an integer from 1 to 65535, got 65536`]],
  ['unequal port ranges', 'services: {a: {command: x, ports: ["8080-8082:80-81"]}}\n', [
    `${FILE}: services.a.ports[0]: published range 8080-8082 and target range 80-81 must be the same length`,
  ]],
  ['backwards range', 'services: {a: {command: x, ports: ["90-80"]}}\n', [`${FILE}: services.a.ports[0]: target port range 90-80 ends before it starts`]],
  ['sctp protocol', 'services: {a: {command: x, ports: ["53:53/sctp"]}}\n', [`${FILE}: services.a.ports[0]: protocol must be tcp or udp, got "sctp"`]],
  ['long form protocol', 'services: {a: {command: x, ports: [{target: 53, protocol: icmp}]}}\n', [`${FILE}: services.a.ports[0].protocol: must be one of tcp, udp, got "icmp"`]],
  ['long form without target', 'services: {a: {command: x, ports: [{published: 80}]}}\n', [`${FILE}: services.a.ports[0].target: required`]],
  ['published as a bad string', 'services: {a: {command: x, ports: [{target: 80, published: "80a"}]}}\n', [`${FILE}: services.a.ports[0].published: must be a port number from 1 to 65535, got "80a"`]],
  ['host mode without published', 'services: {a: {command: x, ports: [{target: 80, mode: host}]}}\n', [`${FILE}: services.a.ports[0].published: required when mode is host`]],
  ['port entry is a list', 'services: {a: {command: x, ports: [[80]]}}\n', [
    `${FILE}: services.a.ports[0]: must be a port like "8080:80" or a mapping with target, published, protocol and mode, got a list`,
  ]],
  ['same port twice in a service', 'services: {a: {command: x, ports: ["8080:80", "8080:81"]}}\n', [
    `${FILE}: services.a.ports[1]: published port 8080/tcp is also published by services.a.ports[0]`,
  ]],
  ['same port in two services, long and range forms', 'services:\n  a: {command: x, ports: ["9000-9002:80-82"]}\n  b: {command: x, ports: [{target: 1, published: 9001, mode: host}]}\n', [
    `${FILE}: services.b.ports[0]: published port 9001/tcp is also published by services.a.ports[0]`,
  ]],
  ['too many ports in the stack', `services:\n  a: {command: x, ports: [${Array(6).fill('"1-1000"').join(', ')}]}\n  b: {command: x, ports: [${Array(5).fill('"1-1000/udp"').join(', ')}]}\n`, [
    `${FILE}: services: the stack publishes 11000 ports; the limit is 10000`,
  ]],
  // --- networks ---
  ['undeclared network in a list', 'services: {a: {command: x, networks: [front]}}\n', [`${FILE}: services.a.networks[0]: network "front" is not declared in the top-level networks`]],
  ['undeclared network in a mapping', 'services: {a: {command: x, networks: {back: {aliases: [b]}}}}\nnetworks: {front: null}\n', [
    `${FILE}: services.a.networks.back: network "back" is not declared in the top-level networks`,
  ]],
  ['network listed twice', 'services: {a: {command: x, networks: [n, n]}}\nnetworks: {n: null}\n', [`${FILE}: services.a.networks[1]: "n" is listed twice`]],
  ['bad alias', 'services: {a: {command: x, networks: {n: {aliases: ["a b"]}}}}\nnetworks: {n: null}\n', [
    `${FILE}: services.a.networks.n.aliases[0]: must be a DNS name matching ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, got "a b"`,
  ]],
  ['bridge driver', 'services: {a: {command: x}}\nnetworks: {n: {driver: bridge}}\n', [`${FILE}: networks.n.driver: only the overlay driver is supported, got "bridge"`]],
  ['external network', 'services: {a: {command: x}}\nnetworks: {n: {external: true}}\n', [`${FILE}: networks.n.external: external networks are not supported`]],
  ['subnet host bits', 'services: {a: {command: x}}\nnetworks: {n: {ipam: {config: [{subnet: 10.0.1.5/24}]}}}\n', [
    `${FILE}: networks.n.ipam.config[0].subnet: 10.0.1.5/24 has host bits set; did you mean 10.0.1.0/24?`,
  ]],
  ['subnet prefix too long', 'services: {a: {command: x}}\nnetworks: {n: {ipam: {config: [{subnet: 10.0.1.0/30}]}}}\n', [
    `${FILE}: networks.n.ipam.config[0].subnet: prefix length must be from 8 to 29, got /30`,
  ]],
  ['subnet not IPv4', 'services: {a: {command: x}}\nnetworks: {n: {ipam: {config: [{subnet: "fd00::/64"}]}}}\n', [
    `${FILE}: networks.n.ipam.config[0].subnet: must be an IPv4 subnet in CIDR form like "10.0.1.0/24", got "fd00::/64"`,
  ]],
  ['subnet octet above 255', 'services: {a: {command: x}}\nnetworks: {n: {ipam: {config: [{subnet: 10.0.256.0/24}]}}}\n', [
    `${FILE}: networks.n.ipam.config[0].subnet: must be an IPv4 subnet in CIDR form like "10.0.1.0/24", got "10.0.256.0/24"`,
  ]],
  ['two ipam configs', 'services: {a: {command: x}}\nnetworks: {n: {ipam: {config: [{subnet: 10.1.0.0/16}, {subnet: 10.2.0.0/16}]}}}\n', [
    `${FILE}: networks.n.ipam.config: only one entry is supported, got 2`,
  ]],
  [
    'overlapping subnets',
    'services: {a: {command: x}}\nnetworks:\n  big: {ipam: {config: [{subnet: 10.0.0.0/16}]}}\n  other: {ipam: {config: [{subnet: 10.1.0.0/16}]}}\n  small: {ipam: {config: [{subnet: 10.0.4.0/24}]}}\n',
    [`${FILE}: networks.small.ipam.config[0].subnet: 10.0.4.0/24 overlaps 10.0.0.0/16 of networks.big`],
  ],
  [
    'overlapping subnets, the larger one later',
    'services: {a: {command: x}}\nnetworks:\n  small: {ipam: {config: [{subnet: 10.0.4.0/24}]}}\n  big: {ipam: {config: [{subnet: 10.0.0.0/8}]}}\n',
    [`${FILE}: networks.big.ipam.config[0].subnet: 10.0.0.0/8 overlaps 10.0.4.0/24 of networks.small`],
  ],
];

describe('parseStack: invalid stacks', () => {
  it('covers at least 40 cases', () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(40);
  });

  it.each(INVALID)('%s', (_label, text, problems) => {
    expect(problemsOf(text)).toEqual(problems);
  });

  it('refuses a file over 1 MiB without parsing it', () => {
    const text = `services: {a: {command: x}}\n#${'x'.repeat(MAX_FILE_BYTES)}\n`;
    const bytes = Buffer.byteLength(text);
    expect(problemsOf(text)).toEqual([`${FILE}: file is ${bytes} bytes; the limit is 1048576`]);
  });

  it('refuses an alias bomb', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    expect(problemsOf(`${lines.join('\n')}\nservices: {a: {command: x}}\n`)).toEqual([
      `${FILE}: cannot read the YAML: Excessive alias count indicates a resource exhaustion attack`,
    ]);
  });

  it('refuses deep nesting with a bounded number of YAML problems', () => {
    const problems = problemsOf(`services: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`);
    expect(problems.length).toBeLessThanOrEqual(11);
    expect(problems[0]).toMatch(/^stack\.yml: line 1, column \d+: /);
  });

  it.each([
    ['my stack', `${FILE}: stack name: must match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$, got "my stack"`],
    ['', `${FILE}: stack name: must match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$, got ""`],
    ['s'.repeat(41), `${FILE}: stack name: must be at most 40 characters, got 41`],
  ])('refuses the stack name %j', (stackName, problem) => {
    expect(problemsOf('services: {a: {command: x}}\n', stackName)).toEqual([problem]);
  });

  it('collects problems from every service and network, not just the first', () => {
    const text = [
      'services:',
      '  a: {command: 3}',
      '  b: {command: x, deploy: {replicas: -1}}',
      '  c: {command: x, ports: ["8080:80"]}',
      '  d: {command: x, ports: ["8080:80"], networks: [missing]}',
      'networks:',
      '  n: {driver: macvlan}',
      '',
    ].join('\n');
    expect(problemsOf(text, 'bad name')).toEqual([
      `${FILE}: stack name: must match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$, got "bad name"`,
      `${FILE}: services.a.command: must be a string or a list of strings, got 3`,
      `${FILE}: services.b.deploy.replicas: must be an integer >= 0, got -1`,
      `${FILE}: services.d.networks[0]: network "missing" is not declared in the top-level networks`,
      `${FILE}: services.d.ports[0]: published port 8080/tcp is also published by services.c.ports[0]`,
      `${FILE}: networks.n.driver: only the overlay driver is supported, got "macvlan"`,
    ]);
  });

  it('puts every problem on one line starting with the file name', () => {
    for (const [, text] of INVALID) {
      for (const p of problemsOf(text)) expect(p).toMatch(/^stack\.yml: \S[^\n]*$/);
    }
  });
});
