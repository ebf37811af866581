import { CNI_ERRORS, type CniErrorBody } from './protocol.js';

/** libcni's code for a failure that fits no other (pkg/types ErrInternal): a bug in the plugin. */
export const INTERNAL_ERROR = 999;

/** A failure the plugin reports to the runtime as CNI's error result. */
export class CniError extends Error {
  readonly code: number;
  readonly details: string | undefined;

  constructor(code: number, msg: string, details?: string) {
    super(msg);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }

  get body(): CniErrorBody {
    return this.details === undefined ? { code: this.code, msg: this.message } : { code: this.code, msg: this.message, details: this.details };
  }
}

/** An invalid or missing field of the network configuration (code 7), named in the message. */
export function invalidField(field: string, problem: string, details: string): CniError {
  return new CniError(CNI_ERRORS.invalidNetworkConfig, `invalid network configuration: "${field}" ${problem}`, details);
}

/** CNI's error result, as printed on stdout: `{cniVersion, code, msg, details}`. */
export function errorResult(cniVersion: string, body: CniErrorBody): { cniVersion: string } & CniErrorBody {
  return { cniVersion, ...body };
}
