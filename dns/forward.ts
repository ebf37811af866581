import { createSocket } from 'node:dgram';
import { MeshError } from '../core/errors.js';

/** Bounds how many forwarded queries are in flight; beyond that a query fails at once. */
export class Semaphore {
  private active = 0;
  constructor(private readonly limit: number) {}

  tryAcquire(): (() => void) | undefined {
    if (this.active >= this.limit) return undefined;
    this.active++;
    let released = false;
    return () => {
      if (!released) this.active--;
      released = true;
    };
  }
}

/** Sends a raw DNS query to each upstream in turn (UDP) and returns the first answer. */
export async function forwardQuery(query: Buffer, upstreams: readonly string[], timeoutMs: number): Promise<Buffer> {
  for (const server of upstreams) {
    try {
      return await askOne(query, server, timeoutMs);
    } catch {
      // next upstream
    }
  }
  throw new MeshError(`no upstream resolver answered (${upstreams.join(', ') || 'none configured'})`);
}

function askOne(query: Buffer, server: string, timeoutMs: number): Promise<Buffer> {
  const [host, port] = server.includes(':') ? server.split(':') : [server, '53'];
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new MeshError(`upstream ${server} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.send(query, Number(port), host);
  });
}

/** The node's own resolvers, from resolv.conf text. */
export function nameserversOf(resolvConf: string): string[] {
  return resolvConf
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => Boolean(s) && !s!.includes(':'));
}
