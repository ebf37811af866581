/**
 * meshd's answer checked against cni/protocol.ts's MeshdCniResponse before the plugin uses it: a
 * result the plugin can convert, `ok`, or an error body it passes through unchanged. Anything else
 * is code 6 (the answer cannot be decoded).
 */
import { CniError } from './cni-error.js';
import { CNI_ERRORS, type CniErrorBody, type CniResult, type MeshdCniResponse } from './protocol.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const listOf = (v: unknown, item: (x: Record<string, unknown>) => boolean): boolean => Array.isArray(v) && v.every((x) => isObject(x) && item(x));
const optional = (v: unknown, type: 'string' | 'number'): boolean => v === undefined || typeof v === type;

/** What is wrong with a result from meshd, or undefined when the plugin can convert it. */
function resultProblem(r: unknown): string | undefined {
  if (!isObject(r)) return 'the result is not an object';
  if (!listOf(r.interfaces, (i) => typeof i.name === 'string')) return 'result.interfaces is not a list of {name, ...}';
  if (!listOf(r.ips, (ip) => typeof ip.address === 'string' && optional(ip.gateway, 'string') && optional(ip.interface, 'number'))) return 'result.ips is not a list of {address, gateway?, interface?}';
  if (!listOf(r.routes, (route) => typeof route.dst === 'string' && optional(route.gw, 'string'))) return 'result.routes is not a list of {dst, gw?}';
  if (!isObject(r.dns)) return 'result.dns is not an object';
  return undefined;
}

function isErrorBody(e: unknown): e is CniErrorBody {
  return isObject(e) && Number.isInteger(e.code) && typeof e.msg === 'string' && optional(e.details, 'string');
}

function undecodable(socket: string, problem: string): CniError {
  return new CniError(CNI_ERRORS.decodeFailure, "meshd's answer is not a MeshdCniResponse", `${problem} (socket ${socket})`);
}

/** The answer as MeshdCniResponse; throws code 6 when it is not one. */
export function decodeMeshdAnswer(answer: unknown, socket: string): MeshdCniResponse {
  if (!isObject(answer)) throw undecodable(socket, 'the answer is not a JSON object');
  if ('error' in answer) {
    if (!isErrorBody(answer.error)) throw undecodable(socket, 'error is not {code, msg, details?}');
    return { error: answer.error };
  }
  if ('result' in answer) {
    const problem = resultProblem(answer.result);
    if (problem) throw undecodable(socket, problem);
    return { result: answer.result as CniResult };
  }
  if (answer.ok === true) return { ok: true };
  throw undecodable(socket, 'the answer has none of result, ok, error');
}
