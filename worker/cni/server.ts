/**
 * meshd's end of the CNI plugin's socket (cni/protocol.ts): one JSON line in, one JSON line out,
 * per connection. Only root may connect (the socket is 0600 in meshd's run dir). What comes in
 * is checked like anything from the wire: a bad request is answered with a CNI error naming the
 * field, and never reaches the attachment code.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import * as z from 'zod';
import type { Logger } from '../../core/log.js';
import { CNI_ERRORS, type CniErrorBody, type MeshdCniRequest, type MeshdCniResponse } from '../../cni/protocol.js';
import { CniError } from './errors.js';

/** A request line is small (a network configuration); anything longer is refused. */
const MAX_REQUEST_BYTES = 1024 * 1024;
/** A client that sends nothing for this long is dropped. */
const IDLE_MS = 30_000;

const Request = z.object({
  command: z.enum(['ADD', 'DEL', 'CHECK', 'STATUS', 'GC']),
  containerId: z.string().max(256).optional(),
  netns: z.string().max(4096).optional(),
  ifname: z.string().max(15).optional(),
  args: z.record(z.string().max(256), z.string().max(4096)),
  config: z.looseObject({
    cniVersion: z.string().max(32),
    name: z.string().max(253),
    type: z.literal('meshd'),
    socket: z.string().max(4096),
    network: z.string().min(1).max(253),
  }),
});

export type CniHandler = (req: MeshdCniRequest) => Promise<MeshdCniResponse>;

export class CniSocketServer {
  private server: Server | undefined;
  private readonly open = new Set<Socket>();

  constructor(private readonly opts: { path: string; handle: CniHandler; log: Logger }) {}

  async start(): Promise<void> {
    // A socket file left by a previous meshd: nothing listens on it any more.
    await rm(this.opts.path, { force: true });
    const server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.path, () => resolve());
    });
    await chmod(this.opts.path, 0o600);
    server.on('error', (err) => this.opts.log.warn('CNI socket error', { err: String(err) }));
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await rm(this.opts.path, { force: true });
  }

  private serve(sock: Socket): void {
    this.open.add(sock);
    sock.setTimeout(IDLE_MS, () => sock.destroy());
    sock.on('close', () => this.open.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    let answered = false;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      if (answered) return;
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0 && buf.length <= MAX_REQUEST_BYTES) return;
      answered = true;
      // The request is in: the command may take as long as it takes (the plugin bounds its wait).
      sock.setTimeout(0);
      const line = nl < 0 ? undefined : buf.slice(0, nl);
      void this.answer(line).then((res) => sock.end(JSON.stringify(res) + '\n'));
    });
  }

  private async answer(line: string | undefined): Promise<MeshdCniResponse> {
    if (line === undefined) return { error: { code: CNI_ERRORS.ioFailure, msg: `request longer than ${MAX_REQUEST_BYTES} bytes` } };
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      return { error: { code: CNI_ERRORS.decodeFailure, msg: 'request is not JSON', details: String(err) } };
    }
    const parsed = Request.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return { error: { code: CNI_ERRORS.invalidNetworkConfig, msg: `invalid request: ${issue.path.join('.') || '(root)'}: ${issue.message}` } };
    }
    try {
      return await this.opts.handle(parsed.data as MeshdCniRequest);
    } catch (err) {
      return { error: errorBody(err) };
    }
  }
}

function errorBody(err: unknown): CniErrorBody {
  if (err instanceof CniError) return err.body;
  return { code: CNI_ERRORS.tryAgainLater, msg: err instanceof Error ? err.message : String(err) };
}
