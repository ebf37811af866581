/**
 * The `meshd` CNI plugin (installed as /opt/cni/bin/meshd; entry cli/meshd-cni.ts). It stays thin:
 * it validates what the runtime gave it (environment, stdin), forwards one MeshdCniRequest to the
 * node's meshd over the unix socket the configuration names, and prints meshd's answer in the CNI
 * version the runtime asked for. VERSION is answered here alone. meshd does all the network work.
 */
import { CniError, errorResult, INTERNAL_ERROR } from './cni-error.js';
import { decodeNetConf, validateNetConf } from './config.js';
import { meshdTimeoutMs, parseCniEnv, type CniEnv } from './env.js';
import { decodeMeshdAnswer } from './meshd-answer.js';
import { CNI_ERRORS, SUPPORTED_VERSIONS, type CniCommand, type MeshdCniRequest, type MeshdCniResponse, type MeshdNetConf } from './protocol.js';
import { resultForVersion } from './result-version.js';
import { callMeshd, MeshdCallError, type MeshdCallFailure } from './socket-client.js';
import { LATEST_VERSION, requireCommandIn, selectVersion, type SupportedVersion } from './version.js';

export interface PluginInvocation {
  /** The process environment: CNI_* (and MESHD_CNI_TIMEOUT_MS). */
  env: NodeJS.ProcessEnv;
  /** Everything the runtime wrote on stdin. */
  stdin: string;
}

export interface PluginOutcome {
  /** A result, VERSION's answer, an error result, or nothing. */
  stdout: string;
  exitCode: 0 | 1;
}

const printed = (doc: object, exitCode: 0 | 1): PluginOutcome => ({ stdout: JSON.stringify(doc) + '\n', exitCode });
const SILENT_SUCCESS: PluginOutcome = { stdout: '', exitCode: 0 };

/** VERSION: the plugin's versions, in the version the runtime asked in (any it names; 1.1.0 when it names none). */
function versionReport(stdin: string): PluginOutcome {
  let asked: unknown;
  try {
    asked = (JSON.parse(stdin) as { cniVersion?: unknown } | null)?.cniVersion;
  } catch {
    asked = undefined; // VERSION needs no configuration: libcni's skel does not even read stdin for it
  }
  return printed({ cniVersion: typeof asked === 'string' && asked !== '' ? asked : LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] }, 0);
}

function requestFor(command: CniCommand, cniEnv: CniEnv, config: MeshdNetConf): MeshdCniRequest {
  const attachment = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  if (!attachment) return { command, args: {}, config };
  return {
    command,
    containerId: cniEnv.containerId!,
    ...(cniEnv.netns ? { netns: cniEnv.netns } : {}),
    ifname: cniEnv.ifname!,
    args: cniEnv.args,
    config,
  };
}

const UNAVAILABLE_BECAUSE: Record<MeshdCallFailure, string> = {
  unreachable: 'meshd is not running or its socket is not reachable',
  timeout: 'meshd did not answer in time',
  closed: 'meshd hung up without answering',
  malformed: "meshd's answer is not one JSON line",
};

/**
 * A call to meshd that got no usable answer. STATUS reports the plugin unavailable (50); the others
 * ask the runtime to try again later (11), except an answer that is there but cannot be decoded (6).
 */
function meshdFailure(command: CniCommand, err: MeshdCallError): CniError {
  if (command === 'STATUS') return new CniError(CNI_ERRORS.pluginNotAvailable, `${UNAVAILABLE_BECAUSE[err.failure]}: it cannot serve ADD`, err.message);
  if (err.failure === 'malformed') return new CniError(CNI_ERRORS.decodeFailure, UNAVAILABLE_BECAUSE.malformed, err.message);
  return new CniError(CNI_ERRORS.tryAgainLater, `${UNAVAILABLE_BECAUSE[err.failure]}: try again later`, err.message);
}

async function askMeshd(command: CniCommand, request: MeshdCniRequest, timeoutMs: number): Promise<MeshdCniResponse> {
  const { socket } = request.config;
  try {
    return decodeMeshdAnswer(await callMeshd({ socket, request, timeoutMs }), socket);
  } catch (err) {
    if (err instanceof MeshdCallError) throw meshdFailure(command, err);
    if (err instanceof CniError && command === 'STATUS') throw new CniError(CNI_ERRORS.pluginNotAvailable, `${err.message}: meshd cannot serve ADD`, err.details);
    throw err;
  }
}

/** What the runtime sees of meshd's answer: ADD's result in its version, nothing for the others, meshd's error unchanged. */
function outcomeOf(command: CniCommand, answer: MeshdCniResponse, version: SupportedVersion, socket: string): PluginOutcome {
  if ('error' in answer) return printed(errorResult(version, answer.error), 1);
  if (command !== 'ADD') return SILENT_SUCCESS;
  if (!('result' in answer)) throw new CniError(CNI_ERRORS.decodeFailure, "meshd's answer is not a MeshdCniResponse", `ADD needs a result, meshd answered ok (socket ${socket})`);
  return printed(resultForVersion(answer.result, version), 0);
}

/** One invocation of the plugin, as a runtime makes it. Never throws: failures are CNI error results. */
export async function runCniPlugin({ env, stdin }: PluginInvocation): Promise<PluginOutcome> {
  let version: string = LATEST_VERSION;
  try {
    const cniEnv = parseCniEnv(env);
    if (cniEnv.command === 'VERSION') return versionReport(stdin);
    const command: CniCommand = cniEnv.command;
    const timeoutMs = meshdTimeoutMs(env);
    const raw = decodeNetConf(stdin);
    const selected = selectVersion(raw);
    version = selected;
    requireCommandIn(selected, command);
    const config = validateNetConf(raw, selected, command);
    const answer = await askMeshd(command, requestFor(command, cniEnv, config), timeoutMs);
    return outcomeOf(command, answer, selected, config.socket);
  } catch (err) {
    if (err instanceof CniError) return printed(errorResult(version, err.body), 1);
    return printed(errorResult(version, { code: INTERNAL_ERROR, msg: 'internal error in the meshd CNI plugin', details: String((err as Error)?.stack ?? err) }), 1);
  }
}
