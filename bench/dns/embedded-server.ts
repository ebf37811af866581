/**
 * The project's embedded DNS server (dns/server.ts) on its own, for dnsperf: the name table of a
 * synthetic cluster (bench/dns/zone.ts), every query taken as coming from one client task (in a
 * node the source address names the task; here dnsperf is that task). Prints LISTENING.
 *
 *   node --import tsx bench/dns/embedded-server.ts ADDR SERVICES TTL
 */
import { EmbeddedDns } from '../../dns/server.js';
import { createLogger } from '../../core/log.js';
import { CLIENT_TASK_INDEX, dnsCluster, nameTableOf } from './zone.js';

const [addr, services, ttl] = process.argv.slice(2);
if (!addr || !services || !ttl) throw new Error('usage: embedded-server ADDR SERVICES TTL');
const c = dnsCluster(Number(services));
const table = nameTableOf(c);
const client = c.tasks[CLIENT_TASK_INDEX]!.id;
const dns = new EmbeddedDns({
  ttl: Number(ttl),
  upstreams: () => [],
  forwardTimeoutMs: 2_000,
  maxForwarded: 256,
  clientOf: () => client,
  // As NameTableCache.get() between two cluster changes: the same table every query.
  table: () => table,
  log: createLogger({ level: 'warn' }),
});
await dns.listen(addr, 53);
console.log('LISTENING');
process.on('SIGTERM', () => void dns.close().finally(() => process.exit(0)));
