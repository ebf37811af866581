/**
 * Which CNI version an invocation speaks (spec section 1 "Version considerations"): the
 * configuration's `cniVersion` when the plugin supports it (the runtime selected it, and the result
 * must be in it); otherwise the highest supported one the configuration lists in `cniVersions`.
 * Commands newer than a version are refused in it, as libcni's skel does.
 */
import { CniError, invalidField } from './cni-error.js';
import { CNI_ERRORS, SUPPORTED_VERSIONS } from './protocol.js';
import type { PluginCommand } from './env.js';

export type SupportedVersion = (typeof SUPPORTED_VERSIONS)[number];

/** The newest version the plugin speaks: VERSION's answer when asked in none, and errors' before a version is known. */
export const LATEST_VERSION: SupportedVersion = '1.1.0';

/** The first version that has each command (CHECK came in 0.4.0, STATUS and GC in 1.1.0). */
const INTRODUCED_IN: Partial<Record<PluginCommand, SupportedVersion>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };

function isSupported(v: unknown): v is SupportedVersion {
  return SUPPORTED_VERSIONS.some((s) => s === v);
}

/** Orders the plugin's versions (all of them are `major.minor.patch`). */
function compare(a: SupportedVersion, b: SupportedVersion): number {
  const [pa, pb] = [a, b].map((v) => v.split('.').map(Number)) as [number[], number[]];
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

function incompatible(declared: string): CniError {
  return new CniError(CNI_ERRORS.incompatibleVersion, 'incompatible CNI versions', `config is ${declared}, plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`);
}

/** The version to answer in, from the configuration's `cniVersion` and `cniVersions`; throws code 1 or 7. */
export function selectVersion(config: Record<string, unknown>): SupportedVersion {
  const { cniVersion, cniVersions } = config;
  if (cniVersion !== undefined && typeof cniVersion !== 'string') throw invalidField('cniVersion', 'must be a string', `got ${JSON.stringify(cniVersion)}`);
  if (cniVersions !== undefined && !(Array.isArray(cniVersions) && cniVersions.every((v) => typeof v === 'string'))) {
    throw invalidField('cniVersions', 'must be a list of strings', `got ${JSON.stringify(cniVersions)}`);
  }
  const listed = ((cniVersions ?? []) as string[]).filter(isSupported).sort(compare);
  const version = isSupported(cniVersion) ? cniVersion : listed.at(-1);
  if (!version) {
    const declared = cniVersion ? JSON.stringify(cniVersion) : 'without cniVersion (0.1.0)';
    throw incompatible(cniVersions ? `${declared} with cniVersions ${JSON.stringify(cniVersions)}` : declared);
  }
  return version;
}

/** Refuses (code 1) a command the version does not have. */
export function requireCommandIn(version: SupportedVersion, command: PluginCommand): void {
  const since = INTRODUCED_IN[command];
  if (since && compare(version, since) < 0) {
    throw new CniError(CNI_ERRORS.incompatibleVersion, `config version does not allow ${command}`, `${command} needs cniVersion ${since} or newer, config is "${version}"`);
  }
}
