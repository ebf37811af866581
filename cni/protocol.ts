/**
 * What the `meshd` CNI plugin (cni/plugin.ts, installed as /opt/cni/bin/meshd) and the node's
 * meshd say to each other over the unix socket named in the network configuration (`socket`).
 * One request per connection: the plugin writes one JSON line, meshd answers one JSON line and
 * closes. The plugin parses and validates what the runtime gave it; meshd does the work and
 * answers in CNI 1.1.0's result shape (the plugin converts it to the version the runtime asked for).
 */

/** The CNI commands meshd serves (VERSION is answered by the plugin alone). */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC';

/** The network configuration fields of ours (`type: meshd`), beside CNI's own (`cniVersion`, `name`, ...). */
export interface MeshdNetConf {
  /** The version the plugin answers the runtime in: `cniVersion`, else the highest supported one of `cniVersions`. */
  cniVersion: string;
  /** The CNI network's name (the conflist's `name`). */
  name: string;
  type: 'meshd';
  /** meshd's socket on this node, e.g. /run/meshd/cni.sock. */
  socket: string;
  /** The meshd network to join, by full name (`<stack>_<net>`) or id. */
  network: string;
  /** DEL and CHECK: the result ADD returned (optional for DEL), always in 1.1.0's shape (the plugin converts it). */
  prevResult?: unknown;
  /**
   * GC: the attachments the runtime still holds ({ containerID, ifname }). Always set for GC: [] when the
   * runtime sent none (`cnitool gc`); the spec 1.1.0 tag's name `cni.dev/attachments` arrives under this one.
   */
  'cni.dev/valid-attachments'?: { containerID: string; ifname: string }[];
  /** Anything else the runtime passes (runtimeConfig, args, ...) is carried along. */
  [key: string]: unknown;
}

export interface MeshdCniRequest {
  command: CniCommand;
  /** CNI_CONTAINERID (absent for STATUS and GC). */
  containerId?: string;
  /** CNI_NETNS (ADD: required; DEL: may be empty or gone). */
  netns?: string;
  /** CNI_IFNAME. */
  ifname?: string;
  /** CNI_ARGS as key/value pairs (K8S_POD_NAME, IgnoreUnknown, ...). */
  args: Record<string, string>;
  config: MeshdNetConf;
}

/** CNI 1.1.0's result (the subset meshd fills). */
export interface CniResult {
  cniVersion: string;
  interfaces: { name: string; mac: string; mtu?: number; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  routes: { dst: string; gw?: string }[];
  dns: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

export interface CniErrorBody {
  code: number;
  msg: string;
  details?: string;
}

export type MeshdCniResponse = { result: CniResult } | { ok: true } | { error: CniErrorBody };

/** CNI's well-known error codes (spec section "Error"); ours start at 100. */
export const CNI_ERRORS = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidNetworkConfig: 7,
  tryAgainLater: 11,
  pluginNotAvailable: 50,
  limitedConnectivity: 51,
  /** The meshd network does not exist. */
  unknownNetwork: 100,
  /** The meshd network exists but is not `attachable`. */
  notAttachable: 101,
  /** meshd could not allocate an address on the network. */
  noAddress: 102,
  /** CHECK found the attachment not as ADD left it. */
  checkFailed: 103,
} as const;

/** The versions the plugin accepts (CNI_COMMAND=VERSION lists them). */
export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;
