import type { NatsConnection } from 'nats';
import type { Buckets } from '../../core/state/buckets.js';

/** What every cluster command gets: a connection, read-only buckets, and where to print. */
export interface CommandContext {
  nc: NatsConnection;
  buckets: Buckets;
  out: (text: string) => void;
  err: (text: string) => void;
}

export type OutputFormat = 'table' | 'json';
