import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNats, type TestNats } from '../helpers/nats.js';
import { openBuckets, type Buckets } from '../../core/state/buckets.js';
import { listKeys, readValues } from '../../core/state/read.js';
import { encode } from '../../core/state/codec.js';
import { RECORDS } from '../../core/wire/records.js';
import { createLogger } from '../../core/log.js';
import { Allocator } from '../../manager/allocator.js';
import { ensureCluster, type ClusterConfig } from '../../manager/cluster-config.js';
import { StackDeployer } from '../../manager/deploy/deployer.js';
import { ORPHAN_AFTER_MS, RegistryAuthStore } from '../../manager/registry-auth.js';

const log = createLogger({ level: 'error' });
const FILE = `services:
  app: { image: "reg.test:5000/app:1" }
  hub: { image: "nginx:1" }
  cmd: { command: ["sleep", "1"] }
`;
const LOGIN = Buffer.from('u:p').toString('base64');

/** `--with-registry-auth` on the managers' side: what is kept, where, and for how long. */
describe('registry logins kept by the managers (real nats-server)', () => {
  let nats: TestNats;
  let buckets: Buckets;
  let config: ClusterConfig;
  let deployer: StackDeployer;
  const services = async () => Object.fromEntries((await readValues(buckets.services, RECORDS.services)).map((s) => [s.name, s]));
  const secrets = async () => (await listKeys(buckets.secrets!)).sort();

  beforeAll(async () => {
    nats = await startTestNats();
    buckets = await openBuckets(await nats.connect(), { create: { replicas: 1 } });
    config = await ensureCluster(buckets, new Allocator(buckets.alloc), { subnetPool: '10.0.0.0/8', subnetPrefix: 24, ingressSubnet: '10.255.0.0/16', vxlanPort: 4789 });
    deployer = new StackDeployer({ buckets, allocator: new Allocator(buckets.alloc), config, log, nodeId: 'm1' });
  });
  afterAll(async () => nats?.stop());

  it('keeps a login per image service whose registry has one, names only the registry in the record, and drops it with the service', async () => {
    await deployer.deploy({ stack: 's', file: 's.yml', text: FILE, registryAuth: { 'reg.test:5000': LOGIN, 'unused.test': LOGIN } });
    let svcs = await services();
    expect([svcs.s_app!.registryAuth, svcs.s_hub!.registryAuth, svcs.s_cmd!.registryAuth]).toEqual([['reg.test:5000'], undefined, undefined]);
    const store = new RegistryAuthStore(buckets.secrets!);
    expect((await store.get(svcs.s_app!.id))?.auths).toEqual({ 'reg.test:5000': LOGIN });
    expect(await secrets()).toEqual([`registry.${svcs.s_app!.id}`]);
    const version = svcs.s_app!.version;

    // Deployed again without the flag: kept (as Docker does); with it and no login: dropped, without new tasks.
    const again = await deployer.deploy({ stack: 's', file: 's.yml', text: FILE });
    expect(again.updated).toEqual([]);
    expect((await services()).s_app!.registryAuth).toEqual(['reg.test:5000']);
    const dropped = await deployer.deploy({ stack: 's', file: 's.yml', text: FILE, registryAuth: {} });
    expect(dropped.updated).toEqual(['s_app']);
    svcs = await services();
    expect([svcs.s_app!.registryAuth, svcs.s_app!.version]).toEqual([undefined, version]);
    expect(await secrets()).toEqual([]);

    await deployer.deploy({ stack: 's', file: 's.yml', text: FILE, registryAuth: { 'reg.test:5000': LOGIN } });
    expect(await secrets()).toEqual([`registry.${svcs.s_app!.id}`]);
    await deployer.removeStack('s');
    expect(await secrets()).toEqual([]);
    // Purged, not deleted: no history of the login is left in the stream.
    expect((await buckets.secrets!.status()).streamInfo.state.messages).toBe(0);
  });

  it("sweeps a login whose service never committed, once it is older than a deploy's life", async () => {
    const store = new RegistryAuthStore(buckets.secrets!);
    await buckets.secrets!.put('registry.old', encode({ serviceId: 'old', auths: { r: LOGIN }, writtenAt: new Date(Date.now() - ORPHAN_AFTER_MS - 1_000).toISOString() }));
    await store.put('young', { r: LOGIN });
    await store.put('live', { r: LOGIN });
    expect(await store.removeOrphans(new Set(['live']))).toEqual(['old']);
    expect(await secrets()).toEqual(['registry.live', 'registry.young']);
    expect(await store.removeOrphans(new Set(['live']), Date.now() + ORPHAN_AFTER_MS + 1_000)).toEqual(['young']);
  });

  it('--resolve-image always marks the image services for a pull at every task start; never clears it, without new tasks', async () => {
    await deployer.deploy({ stack: 'p', file: 'p.yml', text: FILE, resolveImage: 'always' });
    let svcs = await services();
    expect([svcs.p_app!.resolveImage, svcs.p_hub!.resolveImage, svcs.p_cmd!.resolveImage]).toEqual(['always', 'always', undefined]);
    const version = svcs.p_app!.version;
    expect((await deployer.deploy({ stack: 'p', file: 'p.yml', text: FILE })).updated).toEqual([]);
    expect((await services()).p_app!.resolveImage).toBe('always');
    expect((await deployer.deploy({ stack: 'p', file: 'p.yml', text: FILE, resolveImage: 'never' })).updated.sort()).toEqual(['p_app', 'p_hub']);
    svcs = await services();
    expect([svcs.p_app!.resolveImage, svcs.p_app!.version]).toEqual([undefined, version]);
    await deployer.removeStack('p');
  });
});
