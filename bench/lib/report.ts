/**
 * What a benchmark row returns, and BENCHMARKS.md rendered from all of them. A section holds
 * tables; every table carries one sentence saying what limits its numbers.
 */

export interface Table {
  title?: string;
  columns: string[];
  rows: string[][];
  /** One sentence: what limits the numbers in this table. */
  limit: string;
}

export interface Section {
  id: string;
  title: string;
  /** What was measured and how, in a sentence or two (before the tables). */
  method: string;
  tables: Table[];
  /** Extra observations (settings seen, counts), rendered as a list. */
  notes: string[];
  /** Set when the row could not be measured (it is reported, not hidden). */
  error?: string;
}

export interface MachineInfo {
  date: string;
  command: string;
  cores: number;
  cpuModel: string;
  memory: string;
  kernel: string;
  os: string;
  node: string;
  tools: string[];
  loadBefore: string;
  loadAfter?: string;
  otherLoad: string[];
  durationS?: number;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderTable(t: Table): string {
  const lines: string[] = [];
  if (t.title) lines.push(`**${t.title}**`, '');
  lines.push(`| ${t.columns.map(escapeCell).join(' | ')} |`);
  lines.push(`| ${t.columns.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
  for (const r of t.rows) lines.push(`| ${r.map(escapeCell).join(' | ')} |`);
  lines.push('', `*What limits it:* ${t.limit}`, '');
  return lines.join('\n');
}

export function renderSection(s: Section, index: number): string {
  const out = [`## ${index}. ${s.title}`, '', s.method, ''];
  if (s.error) out.push(`**Not measured:** ${s.error}`, '');
  for (const t of s.tables) out.push(renderTable(t));
  if (s.notes.length) out.push(...s.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

export function renderReport(m: MachineInfo, sections: Section[], quick: boolean): string {
  const head = [
    '# meshd benchmarks',
    '',
    `Written by \`bench/main.ts\`; every number below was measured by the run described here, the references in the same run. ${quick ? 'This is a **--quick** run: fewer repetitions and shorter runs, so the spread is wider than in a full run.' : 'This is a full run.'}`,
    '',
    '| | |',
    '| --- | --- |',
    `| date | ${m.date} |`,
    `| command | \`${m.command}\` |`,
    `| machine | ${m.cores} cores (${m.cpuModel}), ${m.memory} memory |`,
    `| kernel | ${m.kernel} (${m.os}) |`,
    `| node | ${m.node} |`,
    `| tools | ${m.tools.join(', ')} |`,
    `| load average (1, 5, 15 min) | before: ${m.loadBefore}${m.loadAfter ? `; after: ${m.loadAfter}` : ''} |`,
    `| other load seen | ${m.otherLoad.length ? m.otherLoad.join('; ') : 'none'} |`,
    ...(m.durationS !== undefined ? [`| run time | ${Math.round(m.durationS)} s |`] : []),
    '',
    'Ratios are medians divided by the reference\'s median. Targets come from issue 7; a missed target is reported, never a failure.',
    '',
  ];
  return [...head, ...sections.map((s, i) => renderSection(s, i + 1))].join('\n');
}

/**
 * `--into FILE`: the sections of this run written into an existing report, each replacing the
 * section of the same title (or appended as the next number), and each saying when, with which
 * command and under which load it was measured; the rest of the report is left as it was.
 */
export function spliceSections(existing: string, m: MachineInfo, sections: Section[]): string {
  const parts = existing.split(/^(?=## \d+\. )/m);
  const head = parts[0] ?? '';
  // Each section ends with one blank line (the report's last one may not).
  const bodies = parts.slice(1).map((b) => b.replace(/\n*$/, '\n\n'));
  const titleOf = (body: string) => /^## \d+\. (.*)$/m.exec(body)?.[1]?.trim();
  const stamp = `*Re-measured on its own after the rest of this report: ${m.date.slice(0, 16)}Z, \`${m.command}\` (load average before: ${m.loadBefore}${m.loadAfter ? `; after: ${m.loadAfter}` : ''}; other load seen: ${m.otherLoad.length ? m.otherLoad.join('; ') : 'none'}${m.durationS !== undefined ? `; ${Math.round(m.durationS)} s` : ''}).*`;
  for (const s of sections) {
    const at = bodies.findIndex((b) => titleOf(b) === s.title);
    const index = at >= 0 ? at : bodies.length;
    const [first, ...rest] = renderSection(s, index + 1).split('\n');
    const body = [first, '', stamp, ...rest].join('\n').replace(/\n*$/, '\n\n');
    if (at >= 0) bodies[at] = body;
    else bodies.push(body);
  }
  return (head + bodies.join('')).replace(/\n+$/, '\n');
}
