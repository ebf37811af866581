#!/usr/bin/env node
// meshctl's entry. Cluster commands aimed at a dev cluster must run inside its underlay network
// namespace; deciding that needs only a few files, so it happens here, before the TypeScript
// bundle (or the TypeScript loader) and every module are loaded (that load would otherwise be paid twice per command).
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const LOCAL_COMMANDS = new Set(['dev', 'demo', 'help', '--help', '-h']);

/** The dev cluster's underlay namespace file to re-run in, or undefined to run right here. */
function underlayToEnter(argv) {
  if (argv.length === 0 || argv[0] === '--host' || LOCAL_COMMANDS.has(argv[0]) || process.env.MESH_NATS_URL) return undefined;
  try {
    const home = process.env.MESHD_DEV_HOME || '/var/lib/meshd/dev';
    const name = process.env.MESHD_DEV_CLUSTER || readFileSync(join(home, 'current'), 'utf8').trim();
    if (!/^[a-z0-9][a-z0-9-]{0,15}$/.test(name)) return undefined;
    const netns = JSON.parse(readFileSync(join(home, name, 'cluster.json'), 'utf8')).underlay.netns;
    const self = statSync('/proc/self/ns/net');
    const target = statSync(netns);
    return self.ino === target.ino && self.dev === target.dev ? undefined : { netns, name };
  } catch {
    return undefined; // the full CLI reports what is missing
  }
}

const argv = process.argv.slice(2);
const enter = underlayToEnter(argv);
if (enter) {
  const res = spawnSync('nsenter', [`--net=${enter.netns}`, '--', process.execPath, ...process.execArgv, process.argv[1], ...argv], {
    stdio: 'inherit',
    env: { ...process.env, MESHD_DEV_CLUSTER: enter.name, MESHD_DEV_UNDERLAY: enter.name },
  });
  process.exit(res.status ?? 1);
}
const { loadEntry } = await import('./entry.js');
await loadEntry('meshctl');
