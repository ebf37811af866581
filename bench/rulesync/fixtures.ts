/** Synthetic load-balancer desired states: N services x M backends, every address unique. */
import { FIRST_FWMARK } from '../../core/names.js';
import { intToIp, ipToInt } from '../../core/ipnet.js';
import type { LbDesired, LbService } from '../../lb/model.js';

const VIP_BASE = ipToInt('10.64.0.1');
const BACKEND_BASE = ipToInt('10.128.0.1');
export const SNAT_ADDR = '10.63.255.254';

/** Service number `i` (0-based) with `backends` replicas, as desired.ts would produce it. */
export function syntheticService(i: number, backends: number): LbService {
  return {
    name: `bench_s${i}`,
    fwmark: FIRST_FWMARK + i,
    match: { type: 'vip', vip: intToIp(VIP_BASE + i) },
    backends: Array.from({ length: backends }, (_, j) => ({ addr: intToIp(BACKEND_BASE + i * backends + j), weight: 1 as const })),
  };
}

/** Services `from` .. `from + count - 1`. */
export function syntheticDesired(count: number, backends: number, from = 0): LbDesired {
  return { snatAddr: SNAT_ADDR, services: Array.from({ length: count }, (_, k) => syntheticService(from + k, backends)) };
}
