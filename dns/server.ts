import dns2 from 'dns2';
import type { Logger } from '../core/log.js';
import { lookup, type NameTable } from './names.js';
import { forwardQuery, Semaphore } from './forward.js';

const { Packet } = dns2;
type DnsPacket = InstanceType<typeof Packet>;

export interface EmbeddedDnsOptions {
  /** Answer TTL in seconds (short: Swarm's 600 s hands out dead addresses). */
  ttl: number;
  upstreams: () => readonly string[];
  forwardTimeoutMs: number;
  maxForwarded: number;
  /** Which task a query comes from, by its source address. */
  clientOf: (address: string) => string | undefined;
  table: () => NameTable;
  log: Logger;
}

const ZONE = 'meshd.';

/** The querying address: a UDP rinfo, or a TCP socket. */
function sourceOf(client: unknown): string {
  const c = client as { remoteAddress?: string; address?: unknown };
  return (c.remoteAddress ?? (typeof c.address === 'string' ? c.address : '')).replace(/^::ffff:/, '');
}

/**
 * The node's DNS server (UDP and TCP; dns2 truncates oversized UDP answers with TC set, so clients
 * retry over TCP). Internal names are answered from the name table; others are forwarded.
 */
export class EmbeddedDns {
  private server: ReturnType<typeof dns2.createServer> | undefined;
  private readonly forwarding: Semaphore;
  private boundTo: string | undefined;

  constructor(private readonly opts: EmbeddedDnsOptions) {
    this.forwarding = new Semaphore(opts.maxForwarded);
  }

  get address(): string | undefined {
    return this.boundTo;
  }

  /** Listens on `address:port` (UDP and TCP); a no-op when already there. */
  async listen(address: string, port = 53): Promise<void> {
    if (this.boundTo === address) return;
    await this.close();
    const server = dns2.createServer({
      udp: true,
      tcp: true,
      // A failed send (or any error answering) is logged: an unhandled rejection would end meshd.
      handle: (req, send, client) => void this.handle(req, send, sourceOf(client)).catch((err: unknown) => this.opts.log.debug('dns answer failed', { err: String(err) })),
    });
    server.on('requestError', (err: unknown) => this.opts.log.debug('bad dns request', { err }));
    server.on('error', (err: unknown) => this.opts.log.warn('dns server error', { err }));
    await server.listen({ udp: { port, address }, tcp: { port, address } });
    this.server = server;
    this.boundTo = address;
    this.opts.log.info('embedded dns listening', { address, port });
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.boundTo = undefined;
    if (s) await s.close();
  }

  private async handle(req: DnsPacket, send: (r: DnsPacket) => void, from: string): Promise<void> {
    const res = Packet.createResponseFromRequest(req);
    const q = req.questions[0];
    if (!q) {
      res.header.rcode = 1;
      return send(res);
    }
    const qtype = q.type === Packet.TYPE.A ? 'A' : q.type === Packet.TYPE.AAAA ? 'AAAA' : q.type === Packet.TYPE.PTR ? 'PTR' : 'OTHER';
    const result = lookup(this.opts.table(), { clientTaskId: this.opts.clientOf(from), qname: q.name, qtype });
    res.header.ra = 1;
    switch (result.type) {
      case 'answer':
        for (const address of result.addrs) res.answers.push({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: this.opts.ttl, address } as never);
        return send(res);
      case 'ptr':
        res.answers.push({ name: q.name, type: Packet.TYPE.PTR, class: Packet.CLASS.IN, ttl: this.opts.ttl, domain: result.name } as never);
        return send(res);
      case 'nodata':
      case 'nxdomain':
        if (result.type === 'nxdomain') res.header.rcode = 3;
        res.authorities.push(this.soa(q.name));
        return send(res);
      case 'refused':
        res.header.rcode = 5;
        return send(res);
      case 'forward':
        return this.forward(req, res, send);
    }
  }

  /** Negative answers carry an SOA whose minimum is the TTL, so clients cache them briefly. */
  private soa(qname: string): never {
    return {
      name: ZONE,
      type: Packet.TYPE.SOA,
      class: Packet.CLASS.IN,
      ttl: this.opts.ttl,
      primary: `ns.${ZONE}`,
      admin: `hostmaster.${ZONE}`,
      serial: 1,
      refresh: 3600,
      retry: 600,
      expiration: 86400,
      minimum: this.opts.ttl,
      _for: qname,
    } as never;
  }

  private async forward(req: DnsPacket, res: DnsPacket, send: (r: DnsPacket) => void): Promise<void> {
    const release = this.forwarding.tryAcquire();
    if (!release) {
      res.header.rcode = 2;
      return send(res);
    }
    try {
      const answer = Packet.parse(await forwardQuery(req.toBuffer(), this.opts.upstreams(), this.opts.forwardTimeoutMs));
      answer.header.id = req.header.id;
      send(answer);
    } catch (err) {
      this.opts.log.debug('dns forward failed', { err });
      res.header.rcode = 2;
      send(res);
    } finally {
      release();
    }
  }
}
