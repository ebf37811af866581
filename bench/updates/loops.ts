/** Request-loop processes (loop.ts) in namespaces, driven over stdin/stdout. */
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Daemon, inNs, type Cleanup } from '../lib/proc.js';
import type { LoopCommand, LoopTally, LoopTarget } from './loop.js';

const REPO = resolve(import.meta.dirname, '..', '..');

export class RequestLoop {
  private readonly events: { event: string; tally?: LoopTally }[] = [];
  private wake: (() => void) | undefined;

  private constructor(private readonly d: Daemon) {
    createInterface({ input: d.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      this.events.push(JSON.parse(line) as { event: string; tally?: LoopTally });
      this.wake?.();
    });
  }

  /** Starts the loop process in `netns`; it then runs loops on request. */
  static async start(name: string, netns: string, cleanup: Cleanup): Promise<RequestLoop> {
    const d = cleanup.daemon(await Daemon.start(`request loop ${name}`, inNs(netns, [process.execPath, '--import', 'tsx', join(REPO, 'bench', 'updates', 'loop.ts')]), { stdin: true, cwd: REPO }));
    await d.waitFor(/READY/, 30_000);
    return new RequestLoop(d);
  }

  /** Begins a loop against `target`; resolves after its first successful request. */
  async begin(target: LoopTarget, opts: { intervalMs: number; timeoutMs: number }): Promise<void> {
    this.send({ cmd: 'start', target, ...opts });
    await this.next('started', 30_000);
  }

  /** Ends the loop; every request it made, and the failed ones. */
  async end(): Promise<LoopTally> {
    this.send({ cmd: 'stop' });
    return (await this.next('stopped', 30_000)).tally!;
  }

  private send(c: LoopCommand): void {
    this.d.child.stdin!.write(`${JSON.stringify(c)}\n`);
  }

  private async next(event: string, timeoutMs: number): Promise<{ event: string; tally?: LoopTally }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.events.findIndex((e) => e.event === event);
      if (at >= 0) return this.events.splice(at, 1)[0]!;
      if (!this.d.running) throw new Error(`${this.d.name} exited before '${event}': ${this.d.log.slice(-1000)}`);
      if (Date.now() > deadline) throw new Error(`${this.d.name}: no '${event}' after ${timeoutMs} ms: ${this.d.log.slice(-1000)}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 250);
      });
    }
  }
}
