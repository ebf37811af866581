import { run } from '../../core/exec.js';
import { MeshError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { NftablesApplier, type LbApplier } from './lb-applier.js';

/** True when the kernel has IPVS (ipvsadm loads ip_vs on demand; it fails where it is not built). */
export async function kernelHasIpvs(): Promise<boolean> {
  try {
    await run(['ipvsadm', '-Ln'], { timeoutMs: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** `--lb-backend`: auto picks IPVS where the kernel has it, nftables elsewhere. */
export async function chooseLbApplier(choice: 'auto' | 'ipvs' | 'nftables', log: Logger): Promise<LbApplier> {
  const ipvs = choice !== 'nftables' && (await kernelHasIpvs());
  if (choice === 'ipvs' && !ipvs) throw new MeshError('--lb-backend ipvs: this kernel has no IPVS (ip_vs); use --lb-backend nftables or auto');
  if (ipvs) {
    const { IpvsApplier } = await import('./ipvs-applier.js');
    log.info('load balancer backend', { backend: 'ipvs' });
    return new IpvsApplier();
  }
  log.info('load balancer backend', { backend: 'nftables', reason: choice === 'auto' ? 'kernel has no IPVS' : 'chosen' });
  return new NftablesApplier({ log });
}
