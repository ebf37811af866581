import { ConflictError, ExhaustedError, NotFoundError } from '../../core/errors.js';
import { CNI_ERRORS, type CniErrorBody } from '../../cni/protocol.js';

/** An error the CNI plugin passes to the runtime as is (cni/protocol.ts codes). */
export class CniError extends Error {
  constructor(readonly body: CniErrorBody) {
    super(body.msg);
  }
}

export const cniError = (code: number, msg: string, details?: string) => new CniError({ code, msg, ...(details !== undefined && { details }) });

/** A manager's refusal of an attach, as the CNI error the runtime shows. */
export function fromManagerError(err: unknown): CniError {
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof NotFoundError) return cniError(CNI_ERRORS.unknownNetwork, msg);
  if (err instanceof ConflictError) return cniError(CNI_ERRORS.notAttachable, msg);
  if (err instanceof ExhaustedError) return cniError(CNI_ERRORS.noAddress, msg);
  return cniError(CNI_ERRORS.tryAgainLater, `the managers did not attach the container: ${msg}`);
}
