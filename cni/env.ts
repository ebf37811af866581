/**
 * What the runtime tells the plugin in its environment (CNI spec, section 2 "Parameters"), validated
 * per command as libcni's pkg/skel does: which variables each command needs, the container id's and
 * the interface name's rules. Every failure is code 4 (invalid environment) naming the variables.
 */
import { CniError } from './cni-error.js';
import { CNI_ERRORS, type CniCommand } from './protocol.js';

export type PluginCommand = CniCommand | 'VERSION';

export interface CniEnv {
  command: PluginCommand;
  /** CNI_CONTAINERID (ADD, DEL, CHECK). */
  containerId?: string;
  /** CNI_NETNS (ADD, CHECK; DEL when the runtime still has it). */
  netns?: string;
  /** CNI_IFNAME (ADD, DEL, CHECK). */
  ifname?: string;
  /** CNI_ARGS as key/value pairs (ADD, DEL, CHECK; empty otherwise). */
  args: Record<string, string>;
  /** CNI_PATH: unused (meshd delegates to no other plugin), kept for completeness. */
  path?: string;
}

const COMMANDS: readonly PluginCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];

/** The attachment variables each command needs. CNI_PATH is needed by none: the plugin runs no other plugin. */
const REQUIRED: Record<PluginCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  STATUS: [],
  GC: [],
  VERSION: [],
};

/** The spec's rule for container ids (libcni pkg/utils ValidateContainerID). */
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Linux's limit on interface names: IFNAMSIZ (16) with the terminating NUL. */
const MAX_IFNAME_LENGTH = 15;

function invalidEnv(msg: string, details?: string): CniError {
  return new CniError(CNI_ERRORS.invalidEnvironment, msg, details);
}

function commandOf(value: string | undefined): PluginCommand {
  if (!value) throw invalidEnv('required env variables [CNI_COMMAND] missing', `CNI_COMMAND is one of ${COMMANDS.join(', ')}`);
  const command = COMMANDS.find((c) => c === value);
  if (!command) throw invalidEnv(`unknown CNI_COMMAND: ${value}`, `CNI_COMMAND is one of ${COMMANDS.join(', ')}`);
  return command;
}

/** Why `name` cannot be an interface name, or undefined when it can. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name.length > MAX_IFNAME_LENGTH) return `is longer than ${MAX_IFNAME_LENGTH} characters`;
  if (name === '.' || name === '..') return 'is "." or ".."';
  if (/[/:\s]/.test(name)) return 'contains "/", ":" or whitespace';
  return undefined;
}

/** CNI_ARGS `K=V;K=V` as pairs. Empty segments (a trailing `;`) are skipped; a value may contain `=`. */
export function parseCniArgs(text: string): Record<string, string> {
  const args: Record<string, string> = {};
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalidEnv('invalid CNI_ARGS', `"${pair}" is not KEY=VALUE (CNI_ARGS is KEY=VALUE pairs separated by ";")`);
    args[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return args;
}

/** The runtime's parameters for this invocation; throws CniError code 4 naming what is missing or invalid. */
export function parseCniEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = commandOf(env.CNI_COMMAND);
  const missing = REQUIRED[command].filter((name) => !env[name]);
  if (missing.length > 0) throw invalidEnv(`required env variables [${missing.join(',')}] missing`, `${command} needs ${REQUIRED[command].join(', ')}`);
  if (command === 'STATUS' || command === 'GC' || command === 'VERSION') return { command, args: {}, ...(env.CNI_PATH ? { path: env.CNI_PATH } : {}) };

  const containerId = env.CNI_CONTAINERID!;
  if (!CONTAINER_ID.test(containerId)) {
    throw invalidEnv('invalid characters in CNI_CONTAINERID', `"${containerId}": a container id starts with a letter or digit, then letters, digits, "_", "." or "-"`);
  }
  const ifname = env.CNI_IFNAME!;
  const ifnameProblem = interfaceNameProblem(ifname);
  if (ifnameProblem) throw invalidEnv(`invalid CNI_IFNAME: the interface name ${ifnameProblem}`, `"${ifname}"`);
  return {
    command,
    containerId,
    ifname,
    ...(env.CNI_NETNS ? { netns: env.CNI_NETNS } : {}),
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    ...(env.CNI_PATH ? { path: env.CNI_PATH } : {}),
  };
}

/** How long the plugin waits for meshd's answer: MESHD_CNI_TIMEOUT_MS, 60 s by default. */
export const DEFAULT_MESHD_TIMEOUT_MS = 60_000;

export function meshdTimeoutMs(env: NodeJS.ProcessEnv): number {
  const text = env.MESHD_CNI_TIMEOUT_MS;
  if (text === undefined || text === '') return DEFAULT_MESHD_TIMEOUT_MS;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms <= 0) throw invalidEnv('invalid MESHD_CNI_TIMEOUT_MS', `"${text}" is not a positive number of milliseconds`);
  return ms;
}
