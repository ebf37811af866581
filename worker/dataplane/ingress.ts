import { run } from '../../core/exec.js';
import type { LbApplier } from './lb-applier.js';
import { ensureLbNamespace } from './lbns.js';
import { ensureSandboxGateway, type GatewayDesired } from './gateway.js';
import type { IngressSandboxDesired, PublishRule, TaskPortRules } from './ingress-desired.js';
import { PUBLISH_TABLE, TASK_TABLE, INGRESS_GW_PORT } from './names.js';
export { PUBLISH_TABLE, TASK_TABLE, INGRESS_GW_PORT } from './names.js';


function replaceTable(name: string, body: string[]): string {
  const head = [`add table ip ${name}`, `delete table ip ${name}`];
  if (body.length === 0) return head.join('\n') + '\n';
  return [...head, `table ip ${name} {`, ...body, `}`, ''].join('\n');
}

/**
 * One address, or a round robin over several (host mode with several local replicas): nat chains
 * see only a connection's first packet, so each new connection takes the next replica.
 */
function dnatTarget(to: readonly string[]): string {
  if (to.length === 1) return to[0]!;
  return `numgen inc mod ${to.length} map { ${to.map((a, i) => `${i} : ${a}`).join(', ')} }`;
}

/**
 * DNAT of every published port, for traffic to any local address: from outside (prerouting) and
 * from the node itself (output). Rendered whole; an empty rule list removes the table.
 */
export function renderPublishRules(rules: readonly PublishRule[]): string {
  if (rules.length === 0) return replaceTable(PUBLISH_TABLE, []);
  const dnat = rules.map((r) => `\t\t${r.protocol} dport ${r.port} dnat to ${dnatTarget(r.to)}:${r.toPort}`);
  const ports = rules.map((r) => `${r.protocol} . ${r.toPort}`).join(', ');
  return replaceTable(PUBLISH_TABLE, [
    `\tchain prerouting {`,
    `\t\ttype nat hook prerouting priority dstnat; policy accept;`,
    `\t\tfib daddr type local jump publish`,
    `\t}`,
    `\tchain output {`,
    `\t\ttype nat hook output priority -100; policy accept;`,
    `\t\tfib daddr type local jump publish`,
    `\t}`,
    `\tchain publish {`,
    ...dnat,
    `\t}`,
    `\tchain forward {`,
    `\t\ttype filter hook forward priority filter; policy accept;`,
    `\t\tct status dnat meta l4proto . th dport { ${ports} } accept`,
    `\t}`,
  ]);
}

/** In a task: published -> target on the ingress address; anything else to that address dropped. */
export function renderTaskPorts(r: TaskPortRules | undefined): string {
  if (!r) return replaceTable(TASK_TABLE, []);
  const redirects = r.ports.map((p) => `\t\tip daddr ${r.ingressAddr} ${p.protocol} dport ${p.published} redirect to :${p.target}`);
  const targets = r.ports.map((p) => `${p.protocol} . ${p.target}`).join(', ');
  return replaceTable(TASK_TABLE, [
    `\tchain prerouting {`,
    `\t\ttype nat hook prerouting priority dstnat; policy accept;`,
    ...redirects,
    `\t}`,
    `\tchain input {`,
    `\t\ttype filter hook input priority filter; policy accept;`,
    `\t\tip daddr ${r.ingressAddr} meta l4proto . th dport { ${targets} } accept`,
    `\t\tip daddr ${r.ingressAddr} ct state established,related accept`,
    `\t\tip daddr ${r.ingressAddr} drop`,
    `\t}`,
  ]);
}

export async function applyPublishRules(rules: readonly PublishRule[]): Promise<void> {
  await run(['nft', '-f', '-'], { input: renderPublishRules(rules) });
}

export async function applyTaskPorts(sandbox: string, rules: TaskPortRules | undefined): Promise<void> {
  await run(['nft', '-f', '-'], { netns: sandbox, input: renderTaskPorts(rules) });
}

/**
 * The ingress sandbox: one leg on the ingress overlay (its ingress address; the load balancer
 * marks by published port and SNATs to this address), one on the node's gateway bridge (where
 * the node DNATs published ports to, and its default route back to clients).
 */
export async function ensureIngressSandbox(opts: {
  sbox: IngressSandboxDesired;
  overlayNetns: string;
  mtu: number;
  gateway: GatewayDesired;
  applier: Pick<LbApplier, 'apply'>;
}): Promise<void> {
  await ensureLbNamespace({ lb: opts.sbox, overlayNetns: opts.overlayNetns, mtu: opts.mtu, applier: opts.applier });
  await ensureSandboxGateway(opts.gateway, { sandbox: opts.sbox.netns, hostPort: INGRESS_GW_PORT, addr: opts.sbox.gwAddr });
}
