/** How many load-balanced services a namespace's kernel state holds (read back after a sync). */
import { inNs, sh } from '../lib/proc.js';

export async function nftServiceCount(netns: string): Promise<number> {
  const out = (await sh(inNs(netns, ['nft', '-j', 'list', 'map', 'ip', 'meshd', 'vip_marks']))).stdout;
  const doc = JSON.parse(out) as { nftables: { map?: { elem?: unknown[] } }[] };
  return doc.nftables.find((x) => x.map)?.map?.elem?.length ?? 0;
}

export async function ipvsServiceCount(netns: string): Promise<number> {
  const out = (await sh(inNs(netns, ['ipvsadm', '-S', '-n']), { timeoutMs: 600_000 })).stdout;
  return out.split('\n').filter((l) => l.startsWith('-A ')).length;
}
