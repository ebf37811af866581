import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { cmdlineOf } from '../../cli/dev/proc.js';

/** `meshctl dev` tells a live meshd from a dead one by its argv; exec must not look like an exit. */
describe('cmdlineOf across an exec', () => {
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await once(c, 'exit');
      }
    }
  });

  it('reads the old or the new argv while a process execs, never "gone"', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 100; i++) {
      // sh becomes sleep, as nsenter becomes meshd: the kernel shows an empty cmdline in between.
      const child = spawn('sh', ['-c', 'exec sleep 5'], { stdio: 'ignore' });
      children.push(child);
      await once(child, 'spawn');
      const end = Date.now() + 10;
      while (Date.now() < end) {
        const argv = await cmdlineOf(child.pid!);
        seen.push(argv === undefined ? 'gone' : argv[0] === 'sh' ? 'sh' : argv.join(' '));
      }
    }
    expect(new Set(seen)).not.toContain('gone');
    expect(new Set(seen)).toContain('sleep 5');
  });

  it('says gone for an exited process and for a kernel thread', async () => {
    const child = spawn('true', [], { stdio: 'ignore' });
    await once(child, 'exit');
    expect(await cmdlineOf(child.pid!)).toBeUndefined();
    expect(await cmdlineOf(2)).toBeUndefined();
  });
});
