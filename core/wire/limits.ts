/**
 * Size and rate limits on what cluster members send. One place, so the nats-server config, the
 * RPC layer and the tests agree.
 *
 * Sizes: the largest legitimate message is a stack deploy request carrying the stack file
 * (parse.ts allows 1 MiB) as a JSON string; escaping (quotes, backslashes, newlines) can double
 * it. nats-server's max_payload is therefore 4 MiB (its default, 1 MiB, refused a deploy of a
 * file near the parser's limit); a deploy body may be 3 MiB, every other request 64 KiB.
 * Records derived from a stack (a service with a large environment) stay far below 4 MiB.
 */
export const NATS_MAX_PAYLOAD = 4 * 1024 * 1024;

export const RPC_MAX_BYTES = {
  default: 64 * 1024,
  deploy: 3 * 1024 * 1024,
} as const;

/** Heartbeats and announcements are small; anything bigger is refused unread. */
export const ANNOUNCEMENT_MAX_BYTES = 64 * 1024;

/** A node beats every 500 ms: 10/s with a burst of 20 is four times that, with room for reconnect bursts. */
export const HEARTBEAT_RATE = { perSecond: 10, burst: 20 } as const;
/** A node registers once per start (and retries every 500 ms until a manager answers). */
export const REGISTER_RATE = { perSecond: 2, burst: 10 } as const;
/** Anonymous join requests, all senders together (they have no identity to limit by). */
export const JOIN_RATE = { perSecond: 20, burst: 50 } as const;

/** mesh_status: the largest status value a worker may write, and the bucket's size cap. */
export const STATUS_MAX_VALUE_BYTES = 16 * 1024;
export const STATUS_MAX_BUCKET_BYTES = 256 * 1024 * 1024;
