/**
 * Row 8, image tasks (issue 13): how long a task takes from its creation (the scheduler's record)
 * to serving in every node's load balancer, for a task that runs an image under podman next to one
 * that runs a command, in the same run, alternating. A 3-node dev cluster of its own (podman on
 * every node, a registry in its underlay); the image is built here FROM scratch out of
 * busybox-static and already pulled on every node (a warm-up deploy), so the times are the
 * container path, not the pull; the first, cold deploy is reported apart.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCluster, type TaskRow } from '../../test/helpers/dev.js';
import { ImageBuilder } from '../../cli/dev/images.js';
import { DevRegistry } from '../../cli/dev/registry.js';
import { activeBackends } from '../../test/helpers/lb-state.js';
import type { BenchConfig } from '../lib/config.js';
import { dur } from '../lib/format.js';
import { OWN_NAMESPACE_DIRS } from '../lib/machine.js';
import { Cleanup } from '../lib/proc.js';
import type { Section } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { HTTP_CMD } from '../cluster/stacks.js';

const NODES = ['node-1', 'node-2', 'node-3'];
const REGISTRY = '172.30.0.1:5000';
/** busybox httpd answering its hostname; no HEALTHCHECK, like the command task it is compared with. */
const WEB = { tag: 'bench-web:1', files: { 'bin/serve': '#!/bin/sh\nhostname > /www/index.html\nexec httpd -f -p 8080 -h /www\n' }, lines: ['CMD ["/bin/serve"]'] };

type Kind = 'image' | 'command';

const stackOf = (kind: Kind, image: string, port: number) =>
  `services:\n  web:\n    ${kind === 'image' ? `image: ${image}` : `command: ${HTTP_CMD}`}\n    ports: ["${port}:8080"]\n`;

async function waitUntil(what: string, ok: () => Promise<boolean>, timeoutMs: number, everyMs = 25): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok().catch(() => false)) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** One deploy: ms from the task's creation to its ingress address in every node's LB for `port`. */
async function measure(dev: DevCluster, dir: string, opts: { kind: Kind; image: string; port: number; stack: string }): Promise<number> {
  const file = join(dir, `${opts.stack}.yml`);
  await writeFile(file, stackOf(opts.kind, opts.image, opts.port));
  await dev.ok(['stack', 'deploy', '-d', '-c', file, opts.stack], { timeoutMs: 120_000 });
  const [task] = await (async () => {
    let rows: (TaskRow & { CreatedAt: string })[] = [];
    await waitUntil(`${opts.stack}_web's task`, async () => (rows = await dev.list<TaskRow & { CreatedAt: string }>(['service', 'ps', `${opts.stack}_web`])).length === 1, 60_000, 50);
    return rows;
  })();
  const addr = task!.Addresses.find((a) => a.Network === 'ingress')!.Addr.split('/')[0]!;
  const inLb = async (node: string) => (await activeBackends(join(dev.nodeDir(node), 'run', 'netns', 'ingress_sbox'), `tcp ${opts.port}`)).includes(addr);
  const done = await waitUntil(`${opts.stack} in every LB`, async () => (await Promise.all(NODES.map(inLb))).every(Boolean), 120_000);
  const ms = done - Date.parse(task!.CreatedAt);
  await dev.ok(['stack', 'rm', opts.stack]);
  await waitUntil(`${opts.stack} gone from every LB`, async () => !(await Promise.all(NODES.map(inLb))).some(Boolean), 60_000, 100);
  return ms;
}

export async function imagesRow(cfg: BenchConfig, log: (l: string) => void): Promise<Section> {
  const reps = cfg.quick ? 3 : 15;
  const cleanup = new Cleanup();
  try {
    const dir = await mkdtemp(join(tmpdir(), 'meshd-bench-images-'));
    cleanup.add('remove stack files', () => rm(dir, { recursive: true, force: true }));
    const builder = await ImageBuilder.create();
    cleanup.add('remove the image builder', () => builder.remove());
    const local = await builder.build(WEB);
    log('images: dev up --nodes 3 --managers 1');
    const dev = await DevCluster.up({ nodes: 3, managers: 1, meshdArgs: ['--insecure-registry', REGISTRY] });
    OWN_NAMESPACE_DIRS.add(dev.home);
    cleanup.add(`dev down ${dev.name}`, () => dev.down());
    const underlay = join(dev.dir, 'netns', 'underlay');
    const registry = await DevRegistry.start({ netns: underlay, addr: REGISTRY });
    cleanup.add('stop the registry', () => registry.stop());
    const image = await builder.push(local, REGISTRY, underlay);
    // Cold: the first deploy pulls on the node that runs it. Then every node pulls (a global warm-up).
    const cold = await measure(dev, dir, { kind: 'image', image, port: 19000, stack: 'cold' });
    const warm = join(dir, 'warm.yml');
    await writeFile(warm, `services:\n  pull:\n    image: ${image}\n    deploy: { mode: global }\n`);
    await dev.ok(['stack', 'deploy', '-c', warm, 'warm'], { timeoutMs: 300_000 });
    await dev.ok(['stack', 'rm', 'warm']);
    const times: Record<Kind, number[]> = { image: [], command: [] };
    for (let i = 0; i < reps; i++) {
      for (const kind of ['image', 'command'] as const) {
        times[kind].push(await measure(dev, dir, { kind, image, port: 19001 + i * 2 + (kind === 'image' ? 0 : 1), stack: `${kind === 'image' ? 'img' : 'cmd'}${i}` }));
      }
      log(`images: rep ${i + 1}/${reps}: image ${dur(times.image.at(-1))}, command ${dur(times.command.at(-1))}`);
    }
    const row = (what: string, v: number[]) => {
      const s = summarize(v);
      return [what, String(s.n), dur(s.min), dur(s.p50), dur(s.p95), dur(s.max)];
    };
    return {
      id: 'images',
      title: 'Image tasks (3-node dev cluster)',
      method:
        `One manager and two workers (\`meshctl dev up --nodes 3 --managers 1\`, meshd with \`--insecure-registry\`), nftables LB, podman on every node; a registry (Debian's distribution) in the cluster's underlay. ` +
        `Each repetition deploys a one-replica service publishing a new port and removes it again: once running an image (busybox httpd, built here FROM scratch, already pulled on every node), once running a command (a Node HTTP server), alternating. ` +
        `Time runs from the task's creation (its record's timestamp, written by the scheduler) until its ingress address is an active backend of that port in all 3 nodes' ingress load balancers (nft, polled every ~25 ms).`,
      tables: [
        {
          columns: ['task runs', 'reps', 'min', 'p50', 'p95', 'max'],
          rows: [row('an image (podman)', times.image), row('a command', times.command)],
          limit: 'Both kinds wait for the node to notice the task, build its sandbox, start it, see it listen and report it, and for every node\'s next LB sync; an image task also waits for `podman create` and `podman start` (two podman processes on 2 shared cores) before its process runs.',
        },
      ],
      notes: [
        `The first deploy of the image, pulled from the registry by the node that ran it: ${dur(cold)} from creation to every LB.`,
        ...(['image', 'command'] as const).map((kind) => {
          const slowest = times[kind].indexOf(Math.max(...times[kind]));
          return `The slowest ${kind} task was repetition ${slowest + 1} of ${reps} (${dur(times[kind][slowest])}).`;
        }),
      ],
    };
  } finally {
    await cleanup.runAll(log);
  }
}
