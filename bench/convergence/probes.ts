/** Prober processes (prober.ts) in namespaces, driven over stdin/stdout. */
import { resolve, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Daemon, inNs, type Cleanup } from '../lib/proc.js';
import type { Probe, ProbeResult } from './prober.js';

const REPO = resolve(import.meta.dirname, '..', '..');
type ProbeSpec = Probe extends infer P ? (P extends Probe ? Omit<P, 'id'> : never) : never;

export class Prober {
  private readonly waiting = new Map<string, (r: ProbeResult) => void>();
  private seq = 0;

  private constructor(private readonly d: Daemon) {
    const rl = createInterface({ input: d.child.stdout! });
    rl.on('line', (line) => {
      if (!line.startsWith('{')) return;
      const r = JSON.parse(line) as ProbeResult;
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
  }

  static async start(name: string, netns: string, cleanup: Cleanup): Promise<Prober> {
    const d = cleanup.daemon(await Daemon.start(`prober ${name}`, inNs(netns, [process.execPath, '--import', 'tsx', join(REPO, 'bench', 'convergence', 'prober.ts')]), { stdin: true, cwd: REPO }));
    await d.waitFor(/READY/, 30_000);
    return new Prober(d);
  }

  /** Starts a probe; resolves when its condition holds or it gives up. */
  probe(spec: ProbeSpec): Promise<ProbeResult> {
    const id = String(++this.seq);
    const p = new Promise<ProbeResult>((res) => this.waiting.set(id, res));
    this.d.child.stdin!.write(`${JSON.stringify({ ...spec, id })}\n`);
    return p;
  }
}
