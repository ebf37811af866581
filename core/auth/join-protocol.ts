/** The join request and the sealed grant, as both sides (manager/join.ts, join-client.ts) see them. */
import type { ClusterSecrets } from './secrets.js';
import type { JoinRole } from './tokens.js';

export interface JoinRequest {
  token: string;
  role: JoinRole;
  nodeId: string;
  hostname: string;
  /** Workers: bcrypt hash of the password the node chose for its NATS user. */
  passwordHash?: string;
  /**
   * Workers joining under a node id the cluster already has: that node's current NATS password,
   * the proof that the joiner is that node (bcrypt-compared with the stored hash; never logged).
   */
  currentPassword?: string;
}

/** What a sealed join reply holds. */
export interface JoinGrant {
  /** Workers: the NATS user to connect as (with the password the node chose). */
  user?: string;
  /** Managers: everything a manager needs. */
  secrets?: ClusterSecrets;
  ca?: string;
}
