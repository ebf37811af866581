/**
 * The rows that need a dev cluster, on one 5-node cluster (1 manager, nftables LB) in the
 * order that keeps them from disturbing each other: footprint idle first, then the data-plane
 * stack for throughput and connection rate, convergence, and the 1,000-service footprint last.
 * The cluster is removed whatever happens.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCluster } from '../../test/helpers/dev.js';
import { activeBackends } from '../../test/helpers/lb-state.js';
import type { BenchConfig } from '../lib/config.js';
import { OWN_NAMESPACE_DIRS } from '../lib/machine.js';
import { Cleanup, inNs, sh } from '../lib/proc.js';
import type { Section } from '../lib/report.js';
import { BenchCluster, NODES, nodeAddr } from './cluster.js';
import { DATAPLANE_STACK, PUBLISHED_PORT } from './stacks.js';
import { throughputRow } from '../dataplane/throughput.js';
import { connRateRow } from '../dataplane/connrate.js';
import { convergenceRow } from '../convergence/row.js';
import { footprintIdle, footprintLoaded, footprintSection, type FootprintPhase } from '../footprint/row.js';

export const CLUSTER_ROWS = ['throughput', 'connrate', 'convergence', 'footprint'] as const;
export type ClusterRow = (typeof CLUSTER_ROWS)[number];

const TITLES: Record<ClusterRow, string> = {
  throughput: 'Overlay throughput',
  connrate: 'Connection rate',
  convergence: 'Convergence (5-node dev cluster)',
  footprint: 'Footprint',
};

async function waitUntil(what: string, ok: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Deploys the data-plane stack and waits until the VIPs and the published port work. */
async function dataplaneReady(c: BenchCluster): Promise<void> {
  await c.deploy('dp', DATAPLANE_STACK, false);
  const netId = await c.networkId('dp_net');
  for (const svc of ['dp_iperf', 'dp_http']) {
    const vip = await c.vip(svc);
    const [t] = await c.runningTasks(svc);
    await waitUntil(`${svc} in node-1's LB`, async () => (await activeBackends(c.lbNetns('node-1', netId), `vip ${vip}`)).includes(BenchCluster.addr(t!)));
  }
  await waitUntil('the published port on node-1', async () => (await sh(inNs(c.underlay, ['curl', '-sf', '--max-time', '1', `http://${nodeAddr('node-1')}:${PUBLISHED_PORT}/`]), { allowFail: true })).code === 0);
}

export async function clusterRows(cfg: BenchConfig, wanted: readonly ClusterRow[], log: (l: string) => void): Promise<Section[]> {
  const cleanup = new Cleanup();
  const sections: Section[] = [];
  const row = async (id: ClusterRow, fn: () => Promise<Section | void>) => {
    if (!wanted.includes(id)) return;
    log(`--- ${id}`);
    const t0 = Date.now();
    try {
      const s = await fn();
      if (s) sections.push(s);
    } catch (err) {
      log(`${id} failed: ${(err as Error).stack ?? String(err)}`);
      sections.push({ id, title: TITLES[id], method: '', tables: [], notes: [], error: `the row failed: ${(err as Error).message.split('\n')[0]}` });
    }
    log(`${id} took ${Math.round((Date.now() - t0) / 1000)} s`);
  };
  try {
    const stackDir = await mkdtemp(join(tmpdir(), 'meshd-bench-stacks-'));
    cleanup.add('remove stack files', () => rm(stackDir, { recursive: true, force: true }));
    log('cluster: dev up --nodes 5 --managers 1');
    const dev = await DevCluster.up({ nodes: 5, managers: 1 });
    OWN_NAMESPACE_DIRS.add(dev.home);
    cleanup.add(`dev down ${dev.name}`, () => dev.down());
    const c = new BenchCluster(dev, stackDir);
    const phases: FootprintPhase[] = [];
    await row('footprint', async () => void phases.push(await footprintIdle(c, cfg, log)));
    let ready: Error | undefined;
    if (wanted.some((r) => r !== 'footprint')) await dataplaneReady(c).catch((err: Error) => (ready = err));
    const needsStack = (fn: () => Promise<Section>) => () => {
      if (ready) throw new Error(`the data-plane stack never worked: ${ready.message}`);
      return fn();
    };
    await row('throughput', needsStack(() => throughputRow(c, cfg, log)));
    await row('connrate', needsStack(() => connRateRow(c, cfg, log)));
    await row('convergence', needsStack(() => convergenceRow(c, cfg, log)));
    if (wanted.some((r) => r !== 'footprint')) {
      await dev.meshctl(['stack', 'rm', 'dp'], { timeoutMs: 120_000 });
      await dev.meshctl(['stack', 'rm', 'cv'], { timeoutMs: 120_000 });
      // The footprint is measured on a cluster holding only its own stack.
      await waitUntil('every earlier service gone', async () => (await dev.list(['service', 'ls'])).length === 0, 120_000);
      await waitUntil('every node without task, overlay or LB namespaces', async () => {
        for (const node of NODES) if ((await readdir(join(c.runDir(node), 'netns')).catch(() => [])).some((n) => /^(t_|ov_|lb_)/.test(n))) return false;
        return true;
      }, 120_000);
    }
    await row('footprint', async () => {
      phases.push(await footprintLoaded(c, cfg, log));
      return footprintSection(cfg, phases);
    });
  } finally {
    log('cluster: dev down');
    await cleanup.runAll(log);
  }
  return sections;
}
