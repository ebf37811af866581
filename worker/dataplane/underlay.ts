import { run } from '../../core/exec.js';

/** The MTU of the interface holding the node's advertise address (1500 if none is found). */
export async function underlayMtu(advertiseAddr: string): Promise<number> {
  const { stdout } = await run(['ip', '-j', '-4', 'addr', 'show']);
  const ifs = JSON.parse(stdout || '[]') as { mtu: number; addr_info?: { local: string }[] }[];
  return ifs.find((i) => (i.addr_info ?? []).some((a) => a.local === advertiseAddr))?.mtu ?? 1500;
}
