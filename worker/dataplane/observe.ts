import { run } from '../../core/exec.js';

/**
 * Read-only views of a namespace's links, addresses, FDB and neighbours (`ip -j`, `bridge -j`).
 * `netns` undefined means meshd's own (the node's) namespace.
 */

export interface LinkInfo {
  ifname: string;
  address?: string;
  mtu?: number;
  master?: string;
  operstate?: string;
  flags?: string[];
}

export async function links(netns: string | undefined): Promise<Map<string, LinkInfo>> {
  const { stdout } = await run(['ip', '-j', 'link', 'show'], { netns });
  const list = JSON.parse(stdout || '[]') as LinkInfo[];
  return new Map(list.map((l) => [l.ifname, l]));
}

export async function addresses(netns: string | undefined, dev: string): Promise<string[]> {
  const { stdout } = await run(['ip', '-j', '-4', 'addr', 'show', 'dev', dev], { netns });
  const list = JSON.parse(stdout || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[];
  return list.flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
}

export interface FdbEntry {
  mac: string;
  dst?: string;
}

export async function fdb(netns: string, dev: string): Promise<FdbEntry[]> {
  const { stdout } = await run(['bridge', '-j', 'fdb', 'show', 'dev', dev], { netns });
  return JSON.parse(stdout || '[]') as FdbEntry[];
}

export interface NeighEntry {
  dst: string;
  lladdr?: string;
  state?: string[];
}

export async function neighbours(netns: string, dev: string): Promise<NeighEntry[]> {
  const { stdout } = await run(['ip', '-j', '-4', 'neigh', 'show', 'dev', dev], { netns });
  return JSON.parse(stdout || '[]') as NeighEntry[];
}
