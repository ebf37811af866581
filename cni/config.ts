/**
 * The network configuration on stdin (the runtime's request configuration, derived from a conflist
 * entry of `type: meshd`): decoded (code 6 when it is not a JSON object), then validated (code 7
 * naming the field). Fields the plugin does not know (runtimeConfig, args, capabilities, ...) are
 * carried to meshd unchanged.
 */
import { CniError, invalidField } from './cni-error.js';
import { CNI_ERRORS, type MeshdNetConf } from './protocol.js';
import type { PluginCommand } from './env.js';
import type { SupportedVersion } from './version.js';
import { prevResultAsLatest } from './result-version.js';

/** The spec's rule for network names (libcni pkg/utils ValidateNetworkName). */
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** GC's list of attachments still in use; the spec's 1.1.0 tag named it `cni.dev/attachments` (libcni sends both). */
const VALID_ATTACHMENTS = 'cni.dev/valid-attachments';
const LEGACY_ATTACHMENTS = 'cni.dev/attachments';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** stdin as a JSON object; throws code 6. */
export function decodeNetConf(stdin: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CNI_ERRORS.decodeFailure, 'error decoding the network configuration on stdin', (err as Error).message);
  }
  if (!isObject(parsed)) throw new CniError(CNI_ERRORS.decodeFailure, 'error decoding the network configuration on stdin', 'it is not a JSON object');
  return parsed;
}

function nonEmptyString(config: Record<string, unknown>, field: string): string {
  const v = config[field];
  if (v === undefined) throw invalidField(field, 'is missing', `a "type": "meshd" network configuration needs "${field}"`);
  if (typeof v !== 'string' || v === '') throw invalidField(field, 'must be a non-empty string', `got ${JSON.stringify(v)}`);
  return v;
}

type Attachment = { containerID: string; ifname: string };

function attachmentsOf(config: Record<string, unknown>): Attachment[] {
  const field = config[VALID_ATTACHMENTS] !== undefined ? VALID_ATTACHMENTS : LEGACY_ATTACHMENTS;
  const list = config[field];
  // No list at all: none is still valid (what libcni means by GC without args, as `cnitool gc` sends).
  if (list === undefined) return [];
  const ok = Array.isArray(list) && list.every((a) => isObject(a) && typeof a.containerID === 'string' && typeof a.ifname === 'string');
  if (!ok) throw invalidField(field, 'must be a list of {"containerID": string, "ifname": string}', `got ${JSON.stringify(list)}`);
  return (list as Attachment[]).map((a) => ({ containerID: a.containerID, ifname: a.ifname }));
}

/** The configuration as meshd gets it, `cniVersion` set to the selected version; throws code 7 naming the field. */
export function validateNetConf(config: Record<string, unknown>, version: SupportedVersion, command: PluginCommand): MeshdNetConf {
  const name = nonEmptyString(config, 'name');
  if (!NETWORK_NAME.test(name)) throw invalidField('name', 'has invalid characters', `"${name}": a network name starts with a letter or digit, then letters, digits, "_", "." or "-"`);
  if (config.type !== 'meshd') throw invalidField('type', `must be "meshd"`, `got ${JSON.stringify(config.type) ?? "no type"}`);
  const socket = nonEmptyString(config, 'socket');
  if (!socket.startsWith('/')) throw invalidField('socket', 'must be an absolute path', `got "${socket}"`);
  const network = nonEmptyString(config, 'network');

  const { prevResult } = config;
  if (prevResult !== undefined && !isObject(prevResult)) throw invalidField('prevResult', 'must be a JSON object', `the result of the previous ADD, got ${JSON.stringify(prevResult)}`);
  if (command === 'CHECK' && prevResult === undefined) throw invalidField('prevResult', 'is missing', 'CHECK compares against the result of the previous ADD');

  const out: MeshdNetConf = { ...config, cniVersion: version, name, type: 'meshd', socket, network };
  if (prevResult !== undefined) out.prevResult = prevResultAsLatest(prevResult);
  if (command === 'GC') {
    out[VALID_ATTACHMENTS] = attachmentsOf(config);
    delete out[LEGACY_ATTACHMENTS];
  }
  return out;
}
