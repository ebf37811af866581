/**
 * The bad-input corpus: invalid stack files, each with the exact problems it is rejected with
 * (as reported for a file named `stack.yml` deployed as stack `shop`). The parser's unit test
 * checks every row; the end-to-end test deploys every row through meshctl against a live
 * cluster and checks that the cluster's state did not change.
 */
export const FILE = 'stack.yml';
export const STACK = 'shop';

const TAB_YAML = 'services:\n\tweb:\n';

export const INVALID: [label: string, text: string, problems: string[]][] = [
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
  ['no image, command or entrypoint', 'services: {a: {environment: {A: b}}}\n', [`${FILE}: services.a.image: required: an image to run, or a command (a task without an image runs the command on the node)`]],
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
  ['unsupported constraint key', 'services: {a: {command: x, deploy: {placement: {constraints: ["node.platform.os == linux"]}}}}\n', [
    `${FILE}: services.a.deploy.placement.constraints[0]: unsupported constraint key "node.platform.os"; use node.id, node.hostname, node.role, node.labels.<name> or engine.labels.<name>`,
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
  // --- user ---
  ['user with two colons', 'services: {a: {command: x, user: "a:b:c"}}\n', [`${FILE}: services.a.user: must be "uid", "uid:gid", "name" or "name:group", got "a:b:c"`]],
  ['user name with a space', 'services: {a: {command: x, user: "bad name"}}\n', [
    `${FILE}: services.a.user: user "bad name" is neither a number nor a valid name (^[a-zA-Z_][a-zA-Z0-9_.-]{0,31}\\$?$)`,
  ]],
  ['user id out of range', 'services: {a: {command: x, user: 99999999999}}\n', [`${FILE}: services.a.user: user id 99999999999 is out of range (0 to 4294967294)`]],
  ['user is a list', 'services: {a: {command: x, user: [1]}}\n', [
    `${FILE}: services.a.user: must be a string like "1000", "1000:1000", "name" or "name:group", or a number, got a list`,
  ]],
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
