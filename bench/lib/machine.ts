/** The machine the numbers come from, and what else was using its CPUs meanwhile. */
import { cpus, loadavg, release, totalmem } from 'node:os';
import { readFile, readdir, readlink, stat } from 'node:fs/promises';
import { netnsMountsUnder } from '../../core/netns.js';
import { sh } from './proc.js';

async function firstLine(argv: string[], pattern?: RegExp): Promise<string | undefined> {
  const r = await sh(argv, { allowFail: true, timeoutMs: 10_000 }).catch(() => undefined);
  if (!r) return undefined;
  const text = `${r.stdout}\n${r.stderr}`;
  const line = pattern ? text.split('\n').find((l) => pattern.test(l)) : text.split('\n').find((l) => l.trim());
  return line?.trim();
}

export async function toolVersions(): Promise<string[]> {
  const probes: [string, string[], RegExp?][] = [
    ['iperf3', ['iperf3', '--version'], /^iperf/],
    ['wrk', ['wrk', '-v'], /^wrk/],
    ['dnsperf', ['dnsperf', '-h'], /^Version/],
    ['unbound', ['unbound', '-V'], /^Version/],
    ['nft', ['nft', '--version'], /^nftables/],
    ['nats-server', ['nats-server', '--version'], /nats-server/],
  ];
  const out: string[] = [];
  for (const [name, argv, re] of probes) {
    const v = await firstLine(argv, re);
    out.push(v ? `${name} (${v.replace(/^Version\s*/i, '').replace(/\s+Copyright.*$/, '')})` : `${name} (version unknown)`);
  }
  return out;
}

export function loadNow(): string {
  return loadavg().map((l) => l.toFixed(2)).join(', ');
}

async function osName(): Promise<string> {
  const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
  return /^PRETTY_NAME="?([^"\n]+)"?/m.exec(text)?.[1] ?? 'unknown OS';
}

interface ProcTicks {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
}

async function procTicks(): Promise<Map<number, ProcTicks>> {
  const out = new Map<number, ProcTicks>();
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = await readFile(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      out.set(Number(e), { pid: Number(e), ppid: Number(f[1]), comm, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      /* exited */
    }
  }
  return out;
}

/**
 * Processes outside the bench's own process tree that used more than 10% of a CPU over a
 * `ms`-long sample ("qemu-system-x86 180%"): the other load the numbers shared the machine with.
 */
export async function otherLoad(ms = 1_000): Promise<string[]> {
  const a = await procTicks();
  await new Promise((r) => setTimeout(r, ms));
  const b = await procTicks();
  const hz = 100;
  const busy: string[] = [];
  for (const [pid, now] of b) {
    const before = a.get(pid);
    if (!before || isOurs(pid, b)) continue;
    const cpu = ((now.ticks - before.ticks) / hz / (ms / 1000)) * 100;
    if (cpu > 10) busy.push(`${now.comm} (pid ${pid}) ${Math.round(cpu)}% CPU`);
  }
  return busy;
}

export async function machineInfo(): Promise<{ cores: number; cpuModel: string; memory: string; kernel: string; os: string; node: string }> {
  const c = cpus();
  return {
    cores: c.length,
    cpuModel: c[0]?.model.trim() ?? 'unknown CPU',
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: release(),
    os: await osName(),
    node: process.version,
  };
}

/** True when a qemu VM runs on this machine (another run of the VM lane, or ours). */
export async function qemuRunning(): Promise<number[]> {
  const pids: number[] = [];
  for (const [pid, p] of await procTicks()) if (p.comm.startsWith('qemu-system')) pids.push(pid);
  return pids;
}

/**
 * Directories holding the bench's namespaces (its work dir, its dev cluster's home): processes
 * in those namespaces are the bench's even when they were re-parented away from it (meshd and
 * the tasks run detached).
 */
export const OWN_NAMESPACE_DIRS = new Set<string>();

async function ownNamespaces(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const dir of OWN_NAMESPACE_DIRS) {
    for (const m of await netnsMountsUnder(dir).catch(() => [])) {
      const ino = await stat(m).then((s) => s.ino).catch(() => undefined);
      if (ino !== undefined) out.add(`net:[${ino}]`);
    }
  }
  return out;
}

/**
 * Samples, every `everyMs` while the bench runs, which processes outside the bench's own tree
 * and namespaces use more than 10% of a CPU, so the report can say what the numbers shared the
 * machine with.
 */
export class LoadWatcher {
  private timer: NodeJS.Timeout | undefined;
  private last: Map<number, ProcTicks> | undefined;
  private lastAt = 0;
  private samples = 0;
  private readonly busy = new Map<string, { n: number; pctSum: number }>();

  start(everyMs = 10_000): this {
    const tick = async () => {
      const now = await procTicks();
      const at = performance.now();
      if (this.last) {
        this.samples++;
        const secs = (at - this.lastAt) / 1000;
        const own = await ownNamespaces();
        for (const [pid, p] of now) {
          const before = this.last.get(pid);
          if (!before || isOurs(pid, now)) continue;
          const pct = ((p.ticks - before.ticks) / 100 / secs) * 100;
          if (pct <= 10) continue;
          if (own.has(await readlink(`/proc/${pid}/ns/net`).catch(() => ''))) continue;
          const key = `${p.comm} (pid ${pid})`;
          const b = this.busy.get(key) ?? { n: 0, pctSum: 0 };
          this.busy.set(key, { n: b.n + 1, pctSum: b.pctSum + pct });
        }
      }
      this.last = now;
      this.lastAt = at;
    };
    void tick();
    this.timer = setInterval(() => void tick().catch(() => undefined), everyMs);
    this.timer.unref();
    return this;
  }

  /**
   * One line per process busy in at least a tenth of the samples (in how many, and how busy),
   * then one line per command name for the rest.
   */
  stop(): string[] {
    if (this.timer) clearInterval(this.timer);
    const entries = [...this.busy].sort((a, b) => b[1].n - a[1].n);
    const often = entries.filter(([, v]) => v.n >= Math.max(2, this.samples / 10));
    const rest = new Map<string, { pids: number; maxN: number }>();
    for (const [k, v] of entries) {
      if (often.some(([o]) => o === k)) continue;
      const comm = k.replace(/ \(pid \d+\)$/, '');
      const r = rest.get(comm) ?? { pids: 0, maxN: 0 };
      rest.set(comm, { pids: r.pids + 1, maxN: Math.max(r.maxN, v.n) });
    }
    return [
      ...often.map(([k, v]) => `${k}: above 10% CPU in ${v.n} of ${this.samples} samples taken during the run, ${Math.round(v.pctSum / v.n)}% on average then`),
      ...[...rest].map(([comm, r]) => `${r.pids} other ${comm} process${r.pids === 1 ? '' : 'es'}, each above 10% CPU in at most ${r.maxN} of ${this.samples} samples`),
    ];
  }
}

function isOurs(pid: number, procs: Map<number, ProcTicks>): boolean {
  for (let p = pid, i = 0; p > 1 && i < 64; i++) {
    if (p === process.pid) return true;
    p = procs.get(p)?.ppid ?? 0;
  }
  return false;
}
