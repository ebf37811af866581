/** A minimal DNS client for probes: one A query over UDP, the answer's addresses and rcode. */
import { createSocket } from 'node:dgram';

export interface DnsAnswer {
  rcode: number;
  addrs: string[];
}

function encodeQuery(id: number, name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const parts = [Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of labels) parts.push(Buffer.from([l.length]), Buffer.from(l, 'ascii'));
  parts.push(Buffer.from([0, 0, 1, 0, 1]));
  return Buffer.concat(parts);
}

/** Skips a (possibly compressed) name starting at `off`; returns the offset after it. */
function skipName(buf: Buffer, off: number): number {
  for (;;) {
    const len = buf[off]!;
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2;
    off += len + 1;
  }
}

export function decodeAnswer(buf: Buffer): DnsAnswer {
  const rcode = buf[3]! & 0x0f;
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  let off = 12;
  for (let i = 0; i < qd; i++) off = skipName(buf, off) + 4;
  const addrs: string[] = [];
  for (let i = 0; i < an; i++) {
    off = skipName(buf, off);
    const type = buf.readUInt16BE(off);
    const rdlen = buf.readUInt16BE(off + 8);
    if (type === 1 && rdlen === 4) addrs.push([...buf.subarray(off + 10, off + 14)].join('.'));
    off += 10 + rdlen;
  }
  return { rcode, addrs };
}

let nextId = 1;

/** Asks `server` for the A records of `name`; rejects after `timeoutMs`. */
export function queryA(server: string, name: string, timeoutMs: number): Promise<DnsAnswer> {
  return new Promise((resolve, reject) => {
    const id = nextId++ & 0xffff;
    const sock = createSocket('udp4');
    const done = (err?: Error, ans?: DnsAnswer) => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(ans!);
    };
    const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
    sock.on('error', (e) => done(e));
    sock.on('message', (m) => {
      if (m.readUInt16BE(0) === id) done(undefined, decodeAnswer(m));
    });
    sock.send(encodeQuery(id, name), 53, server);
  });
}
