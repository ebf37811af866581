import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../bench/lib/args.js';
import { spliceSections, type MachineInfo, type Section } from '../../bench/lib/report.js';

const MACHINE: MachineInfo = {
  date: '2026-12-03T13:00:00.000Z',
  command: 'npm run bench -- --only=images --into=BENCHMARKS.md',
  cores: 2,
  cpuModel: 'x',
  memory: '24 GiB',
  kernel: 'k',
  os: 'o',
  node: 'v20',
  tools: [],
  loadBefore: '0.50 0.40 0.30',
  loadAfter: '1.50 0.80 0.40',
  otherLoad: [],
  durationS: 300,
};
const EXISTING = ['# meshd benchmarks', '', 'head', '', '## 1. One', '', 'one body', '', '## 2. Two', '', 'old two', ''].join('\n');
const section = (title: string, body: string): Section => ({ id: title, title, method: body, tables: [], notes: [] });
const STAMP = '*Re-measured on its own after the rest of this report: 2026-12-03T13:00Z, `npm run bench -- --only=images --into=BENCHMARKS.md` (load average before: 0.50 0.40 0.30; after: 1.50 0.80 0.40; other load seen: none; 300 s).*';

describe('bench report: one section re-measured into an existing report', () => {
  it('replaces the section of the same title in place, stamped, and leaves the others', () => {
    expect(spliceSections(EXISTING, MACHINE, [section('Two', 'new two')])).toBe(
      ['# meshd benchmarks', '', 'head', '', '## 1. One', '', 'one body', '', '## 2. Two', '', STAMP, '', 'new two', ''].join('\n'),
    );
  });

  it('appends a new section as the next number', () => {
    expect(spliceSections(EXISTING, MACHINE, [section('Three', 'three body')])).toBe(
      ['# meshd benchmarks', '', 'head', '', '## 1. One', '', 'one body', '', '## 2. Two', '', 'old two', '', '## 3. Three', '', STAMP, '', 'three body', ''].join('\n'),
    );
  });
});

describe('bench arguments: where the report goes', () => {
  const opts = { repo: '/r', rows: ['dns', 'updates'] };
  const parsed = (argv: string[]) => {
    const a = parseBenchArgs(argv, opts);
    return { ...a, only: [...a.only] };
  };

  it('a full run writes BENCHMARKS.md, a --quick run BENCHMARKS.quick.md beside it', () => {
    expect(parsed([])).toEqual({ quick: false, only: ['dns', 'updates'], out: '/r/BENCHMARKS.md' });
    expect(parsed(['--quick', '--only=dns'])).toEqual({ quick: true, only: ['dns'], out: '/r/BENCHMARKS.quick.md' });
    expect(parsed(['--quick', '--out=/tmp/b.md'])).toEqual({ quick: true, only: ['dns', 'updates'], out: '/tmp/b.md' });
    expect(parsed(['--only=updates', '--into=/r/BENCHMARKS.md'])).toEqual({ quick: false, only: ['updates'], out: '/r/BENCHMARKS.md', into: '/r/BENCHMARKS.md' });
  });

  it('refuses a --quick run any way into the full report', () => {
    expect(() => parsed(['--quick', '--out=/r/BENCHMARKS.md'])).toThrow('bench: a --quick run never writes BENCHMARKS.md (--out); it writes BENCHMARKS.quick.md beside it, or --out=FILE');
    expect(() => parsed(['--quick', '--into=/r/BENCHMARKS.md'])).toThrow('bench: a --quick run never writes BENCHMARKS.md (--into); it writes BENCHMARKS.quick.md beside it, or --out=FILE');
    expect(() => parsed(['--only=nope'])).toThrow('bench: unknown row nope (rows: dns, updates)');
  });
});
