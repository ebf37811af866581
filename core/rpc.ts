import type { Msg, NatsConnection, Subscription } from 'nats';
import type * as z from 'zod';
import { encode } from './state/codec.js';
import { fromWireError, MeshError, toWireError, ValidationError } from './errors.js';
import type { Logger } from './log.js';
import { checkAs, tryDecodeAs } from './wire/decode.js';
import { ReplyEnvelope } from './wire/schemas.js';
import { RateLimitedReporter } from './wire/reporter.js';
import type { SenderLimiter } from './wire/limiter.js';
import { RPC_MAX_BYTES } from './wire/limits.js';

/** A request verb: its payload schema (checked before the handler runs) and the handler. */
export interface Route {
  schema: z.ZodType;
  handle: (payload: never, msg: Msg) => Promise<unknown>;
  /** Largest request body accepted (default RPC_MAX_BYTES.default). */
  maxBytes?: number;
}

/** Typed constructor for a Route: the handler receives the schema's output type. */
export function route<S extends z.ZodType>(schema: S, handle: (payload: z.output<S>, msg: Msg) => Promise<unknown>, opts: { maxBytes?: number } = {}): Route {
  return { schema, handle: handle as Route['handle'], maxBytes: opts.maxBytes };
}

export interface ServeOptions {
  subject: string;
  queue?: string;
  log: Logger;
  routes: Record<string, Route>;
  verbOf: (subject: string) => string;
  /** Who sent it, from the subject (a node id), for limits and logs; default `client`. */
  senderOf?: (subject: string) => string;
  /** Per-sender request limit, checked before anything is parsed. */
  limiter?: SenderLimiter;
  /** Requests handled at once; more are refused as busy (default 256). */
  maxInFlight?: number;
  reporter?: RateLimitedReporter;
}

/**
 * Serves request/reply handlers on `subject` (optionally in a queue group); errors go back typed.
 * Every request is checked in order, cheapest first, and refused with a clear error: over the
 * sender's rate, too many in flight, unknown verb, body too large, not its verb's schema (the
 * error names the field). A bad request is logged once per sender per minute, never crashes.
 * The subscription uses a callback: messages are not queued in memory behind a slow handler.
 */
export function serve(nc: NatsConnection, opts: ServeOptions): Subscription {
  const reporter = opts.reporter ?? new RateLimitedReporter({ log: opts.log });
  const maxInFlight = opts.maxInFlight ?? 256;
  let inFlight = 0;
  const respond = (msg: Msg, reply: unknown) => {
    try {
      if (msg.reply) msg.respond(encode(reply));
    } catch {
      // connection closing: the requester times out
    }
  };
  const refuse = (msg: Msg, err: unknown) => respond(msg, { ok: false, error: toWireError(err) });
  const onMessage = (msg: Msg) => {
    const sender = opts.senderOf?.(msg.subject) ?? 'client';
    if (opts.limiter && !opts.limiter.take(sender)) {
      if (reporter.report({ sender, where: msg.subject, reason: 'rate limit exceeded' })) refuse(msg, new MeshError(`too many requests from ${sender}; slow down`));
      return;
    }
    if (inFlight >= maxInFlight) return refuse(msg, new MeshError('the manager is busy; retry'));
    const verb = opts.verbOf(msg.subject);
    const r = Object.hasOwn(opts.routes, verb) ? opts.routes[verb] : undefined;
    if (!r) return refuse(msg, new MeshError(`unknown request ${verb}`));
    const maxBytes = r.maxBytes ?? RPC_MAX_BYTES.default;
    const decoded = tryDecodeAs(r.schema, msg.data.length ? msg.data : new TextEncoder().encode('{}'), { maxBytes });
    if (!decoded.ok) {
      reporter.report({ sender, where: msg.subject, reason: decoded.error.reason });
      return refuse(msg, new ValidationError([`${verb}: ${decoded.error.reason}`]));
    }
    inFlight++;
    void r
      .handle(decoded.value as never, msg)
      .then(
        (result) => respond(msg, { ok: true, result }),
        (err) => {
          opts.log.warn('request failed', { verb, sender, err });
          refuse(msg, err);
        },
      )
      .finally(() => inFlight--);
  };
  return nc.subscribe(opts.subject, {
    queue: opts.queue,
    callback: (err, msg) => {
      if (err) return opts.log.warn('subscription error', { subject: opts.subject, err });
      try {
        onMessage(msg);
      } catch (e) {
        opts.log.warn('request dropped', { subject: msg.subject, err: e });
      }
    },
  });
}

/** A request's default wait: 30 s, or `$MESH_RPC_TIMEOUT_MS` on a machine known to be slow (the VM lane). */
export function rpcTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.MESH_RPC_TIMEOUT_MS);
  return Number.isInteger(v) && v > 0 ? v : 30_000;
}

export interface RequestOptions<S extends z.ZodType = z.ZodType> {
  timeoutMs?: number;
  /** Schema of the result: a reply that does not match throws (naming the field). */
  result?: S;
}

/** Sends a request and returns its (validated) result, or throws the typed error the server sent back. */
export async function request<S extends z.ZodType>(nc: NatsConnection, subject: string, payload: unknown, opts: RequestOptions<S> & { result: S }): Promise<z.output<S>>;
export async function request<T = unknown>(nc: NatsConnection, subject: string, payload: unknown, opts?: number | RequestOptions): Promise<T>;
export async function request(nc: NatsConnection, subject: string, payload: unknown, optsOrTimeout?: number | RequestOptions): Promise<unknown> {
  const opts = typeof optsOrTimeout === 'number' ? { timeoutMs: optsOrTimeout } : (optsOrTimeout ?? {});
  const timeoutMs = opts.timeoutMs ?? rpcTimeoutMs();
  let msg: Msg;
  try {
    msg = await nc.request(subject, encode(payload), { timeout: timeoutMs });
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (/503|no responders/i.test(text)) throw new MeshError(`no manager answered ${subject} (is the cluster up?)`, { cause: err });
    if (/timeout/i.test(text)) throw new MeshError(`${subject} timed out after ${timeoutMs} ms`, { cause: err });
    if (/MAX_PAYLOAD|max.payload/i.test(text)) throw new MeshError(`${subject}: the request is larger than the cluster's message limit`, { cause: err });
    throw err;
  }
  const envelope = tryDecodeAs(ReplyEnvelope, msg.data);
  if (!envelope.ok) throw new MeshError(`bad reply to ${subject}: ${envelope.error.reason}`);
  const reply = envelope.value;
  if (!reply.ok) throw fromWireError(reply.error);
  if (!opts.result) return reply.result;
  const result = checkAs(opts.result, reply.result);
  if (!result.ok) throw new MeshError(`bad reply to ${subject}: ${result.error.reason}`);
  return result.value;
}
