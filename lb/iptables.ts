/**
 * The mark stage and SNAT for the IPVS backend, as `iptables-restore --noflush` input.
 *
 * Only our own chains are declared (`:MESHD-MARK - [0:0]`): with --noflush a declared chain is
 * created or flushed, and every other chain and rule in the namespace is left alone. The jumps
 * from the built-in chains live outside our chains, so they are reconciled from observation:
 * added when missing, extra copies deleted, so each is present exactly once.
 */
import { hexMark, sortedServices, validateLbDesired, type LbDesired, type LbService } from './model.js';
import { IPT_MARK, IPT_SNAT } from './names.js';

/** How many times each jump rule is present now, and what our chains hold (from `parseIptablesJumps`). */
export interface IptablesJumps {
  /** `-A PREROUTING -j MESHD-MARK` in table mangle. */
  mark: number;
  /** `-A POSTROUTING -j MESHD-SNAT` in table nat. */
  snat: number;
  /**
   * The rules in our chains as `iptables-save` prints them (`-A MESHD-MARK ...`, then
   * `-A MESHD-SNAT ...`), when read; with them a sync that would change nothing writes nothing.
   */
  rules?: string[];
}

export const NO_JUMPS: IptablesJumps = { mark: 0, snat: 0 };

const MARK_JUMP = `${IPT_MARK.hook} -j ${IPT_MARK.chain}`;
const SNAT_JUMP = `${IPT_SNAT.hook} -j ${IPT_SNAT.chain}`;

/** Counts our jump rules in `iptables-save` output (all tables, or `-t mangle` + `-t nat`). */
export function parseIptablesJumps(save: string): IptablesJumps {
  const jumps = { mark: 0, snat: 0 };
  const mark: string[] = [];
  const snat: string[] = [];
  let table = '';
  for (const raw of save.split('\n')) {
    const line = raw.trim().replace(/\s+/g, ' ');
    if (line.startsWith('*')) table = line.slice(1);
    else if (table === IPT_MARK.table && line === `-A ${MARK_JUMP}`) jumps.mark++;
    else if (table === IPT_SNAT.table && line === `-A ${SNAT_JUMP}`) jumps.snat++;
    else if (table === IPT_MARK.table && line.startsWith(`-A ${IPT_MARK.chain} `)) mark.push(line);
    else if (table === IPT_SNAT.table && line.startsWith(`-A ${IPT_SNAT.chain} `)) snat.push(line);
  }
  return { ...jumps, rules: [...mark, ...snat] };
}

/** The restore lines that leave exactly one copy of `jump` given `present` copies. */
function jumpLines(jump: string, present: number): string[] {
  if (present === 0) return [`-A ${jump}`];
  return Array.from({ length: present - 1 }, () => `-D ${jump}`);
}

/** One mark rule, spelled as `iptables-save` prints it (so dumps compare line for line). */
export function iptablesMarkRule(s: LbService): string {
  const set = `-j MARK --set-xmark ${hexMark(s.fwmark)}/0xffffffff`;
  if (s.match.type === 'vip') return `-A ${IPT_MARK.chain} -d ${s.match.vip}/32 ${set}`;
  const p = s.match.protocol;
  return `-A ${IPT_MARK.chain} -p ${p} -m ${p} --dport ${s.match.port} ${set}`;
}

/**
 * VIP rules first, then port rules: MARK does not stop the chain, so when a packet matches both
 * the port's mark wins, as in the nftables backend (its port map rule follows the VIP map rule).
 */
function markRuleOrder(d: LbDesired): LbService[] {
  const entries = sortedServices(d);
  return [...entries.filter((s) => s.match.type === 'vip'), ...entries.filter((s) => s.match.type === 'port')];
}

/**
 * `iptables-restore --noflush` input: table mangle (MESHD-MARK, jumped from PREROUTING: marks
 * by VIP or by protocol/port) and table nat (MESHD-SNAT, jumped from POSTROUTING: SNAT of
 * IPVS-handled traffic to `snatAddr`, as Swarm's `-m ipvs --ipvs -j SNAT`). Marking in
 * PREROUTING (Swarm marks VIPs in INPUT) keeps the mark stage identical to the nftables
 * backend; the VIP is a local /32, so the packet still reaches IPVS at LOCAL_IN with its mark.
 * `jumps` is what is observed now; pass NO_JUMPS for a namespace without our rules.
 */
export function renderIptablesMarks(d: LbDesired, jumps: IptablesJumps = NO_JUMPS): string {
  validateLbDesired(d);
  const markRules = markRuleOrder(d).map(iptablesMarkRule);
  const snatRule = `-A ${IPT_SNAT.chain} -m ipvs --ipvs -j SNAT --to-source ${d.snatAddr}`;
  // Already so (each jump once, our chains holding exactly these rules, in order): nothing to write.
  if (jumps.mark === 1 && jumps.snat === 1 && sameLines(jumps.rules, [...markRules, snatRule])) return '';
  const lines = [
    `*${IPT_MARK.table}`,
    `:${IPT_MARK.chain} - [0:0]`,
    ...jumpLines(MARK_JUMP, jumps.mark),
    ...markRules,
    'COMMIT',
    `*${IPT_SNAT.table}`,
    `:${IPT_SNAT.chain} - [0:0]`,
    ...jumpLines(SNAT_JUMP, jumps.snat),
    snatRule,
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

function sameLines(have: string[] | undefined, want: string[]): boolean {
  return have !== undefined && have.length === want.length && have.every((l, i) => l === want[i]);
}

/**
 * `iptables-restore --noflush` input that removes our rules (switching to nftables, or the LB
 * going away): jumps first, then our (flushed) chains. `jumps` as observed.
 */
export function renderIptablesTeardown(jumps: IptablesJumps): string {
  const lines = [
    `*${IPT_MARK.table}`,
    `:${IPT_MARK.chain} - [0:0]`,
    ...Array.from({ length: jumps.mark }, () => `-D ${MARK_JUMP}`),
    `-X ${IPT_MARK.chain}`,
    'COMMIT',
    `*${IPT_SNAT.table}`,
    `:${IPT_SNAT.chain} - [0:0]`,
    ...Array.from({ length: jumps.snat }, () => `-D ${SNAT_JUMP}`),
    `-X ${IPT_SNAT.chain}`,
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}
