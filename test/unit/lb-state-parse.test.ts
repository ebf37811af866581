import { describe, expect, it } from 'vitest';
import { parseIpvsadmList, parseIpvsadmStats } from '../helpers/lb-state.js';

/** The VM lane reads the kernel's IPVS state through these parsers; check them here, where runs are cheap. */
describe('ipvsadm output parsers used by the tests', () => {
  it('reads connections and packets per real from `ipvsadm -Ln --stats --exact`', () => {
    const text = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
FWM  256                                12       61       48     4100     5000
  -> 10.0.1.3:0                          4       20       16     1333     1666
  -> 10.0.1.4:0                          4       21       16     1400     1666
FWM  257                                 0        0        0        0        0
  -> 10.0.2.9:0                          0        0        0        0        0
`;
    expect(parseIpvsadmStats(text)).toEqual({
      256: { '10.0.1.3': { conns: 4, inPkts: 20 }, '10.0.1.4': { conns: 4, inPkts: 21 } },
      257: { '10.0.2.9': { conns: 0, inPkts: 0 } },
    });
  });

  it('reads services, forwarding method and weights from `ipvsadm -Ln`', () => {
    const text = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
FWM  256 rr
  -> 10.0.1.3:0                   Masq    1      0          3
  -> 10.0.1.4:0                   Masq    0      1          0
`;
    const [svc] = parseIpvsadmList(text);
    expect(svc!.fwmark).toBe(256);
    expect(svc!.scheduler).toBe('rr');
    expect(svc!.reals).toEqual([
      { addr: '10.0.1.3', forward: 'Masq', weight: 1 },
      { addr: '10.0.1.4', forward: 'Masq', weight: 0 },
    ]);
  });
});
