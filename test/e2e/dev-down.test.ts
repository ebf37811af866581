import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readFile, readdir, stat } from 'node:fs/promises';
import { DevCluster } from '../helpers/dev.js';
import { readStartTicks } from '../../worker/task-process.js';

async function rootLinks(): Promise<string[]> {
  const { stdout } = await execa('ip', ['-o', 'link', 'show']);
  return stdout.split('\n').map((l) => l.split(':')[1]!.trim()).sort();
}

async function mountsUnder(dir: string): Promise<string[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(dir));
}

/** Processes whose command line names the cluster's directory (meshd, nats-server). */
async function processesNaming(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if ((await readFile(`/proc/${p}/cmdline`, 'utf8')).includes(dir)) pids.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return pids;
}

describe('meshctl dev down', () => {
  let c: DevCluster | undefined;
  afterAll(async () => c?.down());

  it('leaves no namespace, mount, process, file or root-namespace link behind', async () => {
    const linksBefore = await rootLinks();
    c = await DevCluster.up({ nodes: 2 });
    await c.ok(['stack', 'deploy', '-c', 'stack-examples/web.yml', 'web']);
    const taskPids = await Promise.all(
      (await c.list<{ ID: string; Node: string }>(['stack', 'ps', 'web'])).map((t) => c!.taskPid(t.Node, t.ID)),
    );
    expect(taskPids.length).toBe(5); // web_api x3 + web_ticker on each of 2 nodes
    expect(await mountsUnder(c.dir)).not.toHaveLength(0);
    expect(await processesNaming(c.dir)).not.toHaveLength(0);

    await c.ok(['dev', 'down', '--name', c.name]);

    expect(await mountsUnder(c.dir)).toEqual([]);
    expect(await processesNaming(c.dir)).toEqual([]);
    // Gone, or at most a zombie waiting for this machine's init to reap it.
    for (const pid of taskPids) expect(await readStartTicks(pid)).toBeUndefined();
    await expect(stat(c.dir)).rejects.toThrow();
    expect(await rootLinks()).toEqual(linksBefore);
    const ls = await c.meshctl(['dev', 'ls']);
    expect(ls.stdout).not.toContain(c.name);
  });
});
