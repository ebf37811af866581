import type { Msg, NatsConnection, Subscription } from 'nats';
import { decode, encode } from './state/codec.js';
import { fromWireError, MeshError, toWireError, type WireError } from './errors.js';
import type { Logger } from './log.js';

type Reply<T> = { ok: true; result: T } | { ok: false; error: WireError };

export type Handler = (payload: unknown, msg: Msg) => Promise<unknown>;

/** Serves request/reply handlers on `subject` (optionally in a queue group); errors go back typed. */
export function serve(nc: NatsConnection, opts: { subject: string; queue?: string; log: Logger; handlers: Record<string, Handler>; verbOf: (subject: string) => string }): Subscription {
  const sub = nc.subscribe(opts.subject, { queue: opts.queue });
  void (async () => {
    for await (const msg of sub) {
      void (async () => {
        const verb = opts.verbOf(msg.subject);
        const handler = opts.handlers[verb];
        let reply: Reply<unknown>;
        try {
          if (!handler) throw new MeshError(`unknown request ${verb}`);
          const payload = msg.data.length ? decode<unknown>(msg.data) : {};
          reply = { ok: true, result: await handler(payload, msg) };
        } catch (err) {
          opts.log.warn('request failed', { verb, err });
          reply = { ok: false, error: toWireError(err) };
        }
        if (msg.reply) msg.respond(encode(reply));
      })();
    }
  })();
  return sub;
}

/** Sends a request and returns its result, or throws the typed error the server sent back. */
export async function request<T>(nc: NatsConnection, subject: string, payload: unknown, timeoutMs = 30_000): Promise<T> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, encode(payload), { timeout: timeoutMs });
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (/503|no responders/i.test(text)) throw new MeshError(`no manager answered ${subject} (is the cluster up?)`, { cause: err });
    if (/timeout/i.test(text)) throw new MeshError(`${subject} timed out after ${timeoutMs} ms`, { cause: err });
    throw err;
  }
  const reply = decode<Reply<T>>(msg.data);
  if (!reply.ok) throw fromWireError(reply.error);
  return reply.result;
}
