/**
 * What a registration makes of a node's record (pure; `NodeRegistry.register` writes it by
 * create/CAS). The managers own role, node labels and availability; the node owns what it reports.
 */
import type { NodeRecord } from '../core/model.js';
import type { NodeAnnouncement } from './node-registry.js';

export interface RegistrationInput {
  /** The record as it is now, if any. */
  held?: NodeRecord;
  announced: NodeAnnouncement;
  /** The id has a mesh_auth record: the node joined with a worker token. */
  joinedAsWorker: boolean;
  now: string;
}

export interface Registration {
  record: NodeRecord;
  /** The announced role, when the node claimed one it does not hold. */
  refusedRole?: string;
  /**
   * A record written before engine labels existed held the node's own `--label`s as its labels:
   * they become engine labels, and node labels start empty (set them with `meshctl node update`).
   */
  droppedLegacyLabels?: Record<string, string>;
}

export function registrationRecord(input: RegistrationInput): Registration {
  const { held, announced: a, joinedAsWorker, now } = input;
  const legacy = held !== undefined && held.engineLabels === undefined;
  const record: NodeRecord = {
    id: a.id,
    hostname: a.hostname,
    role: joinedAsWorker ? 'worker' : a.role,
    runsTasks: a.runsTasks,
    addr: a.addr,
    labels: held && !legacy ? { ...held.labels } : {},
    engineLabels: { ...a.labels },
    ...(a.containerEngine !== undefined && { containerEngine: a.containerEngine }),
    ...(a.cniSocket !== undefined && { cniSocket: a.cniSocket }),
    ...(a.resources !== undefined && { resources: a.resources }),
    ...(held?.availability !== undefined && { availability: held.availability }),
    status: 'ready',
    statusMessage: '',
    joinedAt: held?.joinedAt ?? now,
    updatedAt: now,
  };
  const out: Registration = { record };
  if (record.role !== a.role) out.refusedRole = a.role;
  if (legacy && Object.keys(held.labels ?? {}).length > 0) out.droppedLegacyLabels = { ...held.labels };
  return out;
}
