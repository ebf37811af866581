/** Stack files the cluster rows deploy. Task commands are plain processes; `image` is unused. */

/** A tiny HTTP server answering `ok` (one Node process). */
export const HTTP_CMD = `["node", "-e", "require('http').createServer((q, s) => s.end('ok')).listen(8080)"]`;

export const PUBLISHED_PORT = 18080;

/** Rows 1-2: an iperf3 server and an HTTP server on node-2, a client on node-1, one overlay. */
export const DATAPLANE_STACK = `services:
  iperf:
    command: ["iperf3", "-s"]
    deploy: { placement: { constraints: ["node.hostname == node-2"] } }
    networks: [net]
  http:
    command: ${HTTP_CMD}
    deploy: { placement: { constraints: ["node.hostname == node-2"] } }
    ports: ["${PUBLISHED_PORT}:8080"]
    networks: [net]
  client:
    command: ["sleep", "100000"]
    deploy: { placement: { constraints: ["node.hostname == node-1"] } }
    networks: [net]
networks:
  net: {}
`;

/** Row 3: a client on every node, a 3-replica web service, and optionally one more published service. */
export function convergenceStack(extra?: { name: string; port: number }): string {
  return `services:
  client:
    command: ["sleep", "100000"]
    deploy: { mode: global }
    networks: [net]
  web:
    command: ${HTTP_CMD}
    deploy: { replicas: 3, restart_policy: { condition: any, delay: 2s } }
    networks: [net]
${
  extra
    ? `  ${extra.name}:
    command: ${HTTP_CMD}
    ports: ["${extra.port}:8080"]
    networks: [net]
`
    : ''
}networks:
  net: {}
`;
}

/** Row 7: N services with no replicas (a VIP and LB entry each) and a task on every node using their network. */
export function footprintStack(services: number): string {
  const lines = ['services:', '  anchor:', '    command: ["sleep", "100000"]', '    deploy: { mode: global }', '    networks: [big]'];
  for (let i = 0; i < services; i++) lines.push(`  s${i}:`, `    command: ${HTTP_CMD}`, '    deploy: { replicas: 0 }', '    networks: [big]');
  lines.push('networks:', '  big:', '    ipam: { config: [{ subnet: 10.96.0.0/20 }] }');
  return lines.join('\n') + '\n';
}
