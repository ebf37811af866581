/** MTU and offload settings of the interfaces on the throughput path, as the kernel reports them. */
import { inNs, sh } from '../lib/proc.js';

const FEATURES = ['tcp-segmentation-offload', 'generic-segmentation-offload', 'generic-receive-offload', 'tx-checksumming', 'tx-udp_tnl-segmentation'];
const SHORT: Record<string, string> = {
  'tcp-segmentation-offload': 'tso',
  'generic-segmentation-offload': 'gso',
  'generic-receive-offload': 'gro',
  'tx-checksumming': 'tx-csum',
  'tx-udp_tnl-segmentation': 'tx-udp_tnl-seg',
};

export async function describeLink(label: string, netns: string, dev: string): Promise<string> {
  const link = await sh(inNs(netns, ['ip', '-j', 'link', 'show', 'dev', dev]), { allowFail: true });
  if (link.code !== 0) return `${label}: ${dev} not found`;
  const mtu = (JSON.parse(link.stdout) as { mtu?: number }[])[0]?.mtu;
  const eth = await sh(inNs(netns, ['ethtool', '-k', dev]), { allowFail: true });
  const feats = FEATURES.map((f) => {
    const m = new RegExp(`^${f}: (\\w+)`, 'm').exec(eth.stdout);
    return `${SHORT[f]} ${m?.[1] ?? '?'}`;
  });
  return `${label} (${dev}): MTU ${mtu ?? '?'}, ${feats.join(', ')}`;
}
