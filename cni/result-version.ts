/**
 * CNI results between versions, as libcni's pkg/types converters do. meshd answers in 1.1.0's shape;
 * the runtime gets the version it asked for. 0.4.0 has `ips[].version` ("4"/"6") and no MTUs; 1.0.0
 * has no `version`, and neither the interface `mtu`, `socketPath`, `pciID` nor the route
 * `mtu`, `advmss`, `priority`, `table`, `scope` that 1.1.0 added. A `prevResult` the runtime passes
 * (in its own version) goes to meshd in 1.1.0's shape, so meshd reads one shape only.
 */
import type { CniResult } from './protocol.js';
import type { SupportedVersion } from './version.js';

type Json = Record<string, unknown>;

const INTERFACE_FIELDS: Record<SupportedVersion, readonly string[]> = {
  '0.4.0': ['name', 'mac', 'sandbox'],
  '1.0.0': ['name', 'mac', 'sandbox'],
  '1.1.0': ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'],
};
const ROUTE_FIELDS: Record<SupportedVersion, readonly string[]> = {
  '0.4.0': ['dst', 'gw'],
  '1.0.0': ['dst', 'gw'],
  '1.1.0': ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'],
};
const IP_FIELDS = ['address', 'gateway', 'interface'] as const;
const DNS_FIELDS = ['nameservers', 'domain', 'search', 'options'] as const;

/** The fields of `from` named in `fields`, in that order, leaving out absent ones. */
function pick(from: object, fields: readonly string[]): Json {
  const out: Json = {};
  for (const f of fields) {
    const v = (from as Json)[f];
    if (v !== undefined) out[f] = v;
  }
  return out;
}

/** 0.4.0's `ips[].version`: "6" for an IPv6 address, else "4" (libcni: To4() != nil). */
function ipVersionOf(address: string): '4' | '6' {
  return address.includes(':') ? '6' : '4';
}

/** meshd's 1.1.0 result as the runtime's version prints it, `cniVersion` set to that version. */
export function resultForVersion(result: CniResult, version: SupportedVersion): Json {
  return {
    cniVersion: version,
    interfaces: result.interfaces.map((i) => pick(i, INTERFACE_FIELDS[version])),
    ips: result.ips.map((ip) => (version === '0.4.0' ? { version: ipVersionOf(ip.address), ...pick(ip, IP_FIELDS) } : pick(ip, IP_FIELDS))),
    routes: result.routes.map((r) => pick(r, ROUTE_FIELDS[version])),
    dns: pick(result.dns, DNS_FIELDS),
  };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A runtime's `prevResult` (0.4.0, 1.0.0 or 1.1.0) in 1.1.0's shape: `ips[].version` dropped,
 * `cniVersion` "1.1.0"; every other field kept as the runtime gave it (meshd validates what it reads).
 */
export function prevResultAsLatest(prev: Json): Json {
  const ips = Array.isArray(prev.ips) ? prev.ips.map((ip: unknown) => (isObject(ip) ? Object.fromEntries(Object.entries(ip).filter(([k]) => k !== 'version')) : ip)) : prev.ips;
  return { ...prev, cniVersion: '1.1.0', ...(ips === undefined ? {} : { ips }) };
}
