/**
 * The compose keys that shape a service's container (image tasks): schemas that check each value
 * and convert it to the model's `ContainerOptions`, by Docker's rules for what each key accepts.
 */
import * as z from 'zod';
import { convert } from './convert.js';
import type { ContainerOptions, MountSpec, ResourceLimits, ResourceReservations } from '../../core/model.js';
import { type Conv, describe, expect, fail, ok } from './issues.js';

const str = z.string({ error: expect('a string') });
const bool = z.boolean({ error: expect('true or false') });
const list = <T extends z.ZodType>(item: T) => z.array(item, { error: expect('a list') });


/** Signals a stop_signal may name (by name, with or without SIG, or by number). */
const SIGNALS = ['HUP', 'INT', 'QUIT', 'KILL', 'USR1', 'USR2', 'TERM', 'WINCH', 'PWR', 'STOP'] as const;
const SIGNAL_NUMBERS: Record<number, string> = { 1: 'HUP', 2: 'INT', 3: 'QUIT', 9: 'KILL', 10: 'USR1', 12: 'USR2', 15: 'TERM', 19: 'STOP', 28: 'WINCH', 30: 'PWR' };

export function parseSignal(v: string | number): Conv<string> {
  const name = typeof v === 'number' ? SIGNAL_NUMBERS[v] : /^\d+$/.test(v) ? SIGNAL_NUMBERS[Number(v)] : v.toUpperCase().replace(/^SIG/, '');
  return name && (SIGNALS as readonly string[]).includes(name) ? ok(`SIG${name}`) : fail(`must be a signal name like "SIGTERM" (one of ${SIGNALS.join(', ')}), got ${describe(v)}`);
}

/** Linux capabilities a service may add or drop (`ALL` for every one), as Docker names them. */
const CAPABILITIES = [
  'AUDIT_CONTROL', 'AUDIT_READ', 'AUDIT_WRITE', 'BLOCK_SUSPEND', 'BPF', 'CHECKPOINT_RESTORE', 'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH',
  'FOWNER', 'FSETID', 'IPC_LOCK', 'IPC_OWNER', 'KILL', 'LEASE', 'LINUX_IMMUTABLE', 'MAC_ADMIN', 'MAC_OVERRIDE', 'MKNOD', 'NET_ADMIN',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_RAW', 'PERFMON', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_ADMIN', 'SYS_BOOT',
  'SYS_CHROOT', 'SYS_MODULE', 'SYS_NICE', 'SYS_PACCT', 'SYS_PTRACE', 'SYS_RAWIO', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG',
  'SYSLOG', 'WAKE_ALARM',
];
const capability = convert(str, (v): Conv<string> => {
  const name = v.toUpperCase().replace(/^CAP_/, '');
  if (name === 'ALL') return ok('ALL');
  return CAPABILITIES.includes(name) ? ok(`CAP_${name}`) : fail(`unknown capability ${describe(v)}`);
});

const absolutePath = convert(str, (v): Conv<string> => (v.startsWith('/') && !v.includes('\0') ? ok(v) : fail(`must be an absolute path, got ${describe(v)}`)));

/** `tmpfs`: a path or a list of them, each optionally `PATH:OPTIONS` (`/run:size=64m,mode=1777`). */
const tmpfsEntry = convert(str, (v): Conv<string> => {
  const [path, opts] = [v.split(':')[0]!, v.split(':').slice(1).join(':')];
  if (!path.startsWith('/')) return fail(`must be an absolute path (optionally PATH:OPTIONS), got ${describe(v)}`);
  if (opts && !/^[a-z0-9_=,]+$/i.test(opts)) return fail(`options must be comma-separated like size=64m,mode=1777, got ${describe(opts)}`);
  return ok(v);
});
const tmpfs = z.union([tmpfsEntry.transform((v) => [v]), list(tmpfsEntry)], { error: expect('a path or a list of paths') });

/** A `KEY=VALUE` list or a mapping -> a mapping (compose accepts both for labels and sysctls). */
function keyValues(keyPattern: RegExp, what: string) {
  const value = z.union([str, z.number(), bool], { error: expect('a string, number or boolean') }).transform(String);
  const fromMap = z.record(z.string(), value).transform((m, ctx) => {
    for (const k of Object.keys(m)) if (!keyPattern.test(k)) ctx.addIssue({ code: 'custom', message: `invalid ${what} ${describe(k)}`, input: k, path: [k] });
    return m;
  });
  const fromList = list(str).transform((items, ctx) => {
    const out: Record<string, string> = {};
    items.forEach((item, i) => {
      const eq = item.indexOf('=');
      const k = eq < 0 ? item : item.slice(0, eq);
      if (!keyPattern.test(k)) ctx.addIssue({ code: 'custom', message: `invalid ${what} ${describe(k)}; expected KEY=VALUE`, input: item, path: [i] });
      out[k] = eq < 0 ? '' : item.slice(eq + 1);
    });
    return out;
  });
  return z.union([fromMap, fromList], { error: expect('a mapping or a list of "KEY=VALUE" strings') });
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$/;

/** `extra_hosts`: `host:ip` / `host=ip` strings or a mapping -> `host:ip`. */
function hostEntry(host: string, ip: string): Conv<string> {
  if (!HOSTNAME.test(host)) return fail(`invalid host name ${describe(host)}`);
  if (!IPV4.test(ip)) return fail(`must map ${describe(host)} to an IPv4 address, got ${describe(ip)}`);
  return ok(`${host}:${ip}`);
}
const extraHosts = z.union(
  [
    list(convert(str, (v): Conv<string> => {
      const m = /^([^:=]+)[:=](.*)$/.exec(v);
      return m ? hostEntry(m[1]!, m[2]!) : fail(`expected "HOST:IP", got ${describe(v)}`);
    })),
    z.record(z.string(), str).transform((m, ctx) => {
      const out: string[] = [];
      for (const [host, ip] of Object.entries(m)) {
        const r = hostEntry(host, ip);
        if (r.ok) out.push(r.value);
        else ctx.addIssue({ code: 'custom', message: r.message, input: ip, path: [host] });
      }
      return out;
    }),
  ],
  { error: expect('a list of "HOST:IP" strings or a mapping') },
);

/** rlimits a service may set, as Docker names them. */
const ULIMITS = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];
const limitValue = z.int({ error: expect('a whole number >= 0') }).min(0, { error: expect('a whole number >= 0') });
const ulimits = z.record(z.string(), z.union([limitValue.transform((n) => ({ soft: n, hard: n })), z.looseObject({ soft: limitValue, hard: limitValue })], { error: expect('a number, or a mapping with soft and hard') })).transform((m, ctx) => {
  const out: Record<string, { soft: number; hard: number }> = {};
  for (const [name, v] of Object.entries(m)) {
    if (!ULIMITS.includes(name)) ctx.addIssue({ code: 'custom', message: `unknown ulimit ${describe(name)} (one of ${ULIMITS.join(', ')})`, input: name, path: [name] });
    else if (v.soft > v.hard) ctx.addIssue({ code: 'custom', message: `soft (${v.soft}) must not exceed hard (${v.hard})`, input: v, path: [name] });
    else out[name] = { soft: v.soft, hard: v.hard };
  }
  return out;
});

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };
/** Compose byte sizes: a number of bytes or `64m`, `1.5g` ... */
export function parseBytes(v: string | number): Conv<number> {
  if (typeof v === 'number') return Number.isInteger(v) && v > 0 ? ok(v) : fail(`must be a positive size like "64m", got ${v}`);
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?b?)$/i.exec(v.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit ? Math.floor(Number(m[1]) * unit) : 0;
  return bytes > 0 ? ok(bytes) : fail(`must be a size like "64m" or "1g", got ${describe(v)}`);
}
const cpus = convert(z.union([str, z.number()], { error: expect('a number of CPUs like "0.5"') }), (v): Conv<number> => {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 && n <= 1024 ? ok(Math.round(n * 1e9)) : fail(`must be a number of CPUs above 0 like "0.5", got ${describe(v)}`);
});
const limits = z.looseObject(
  {
    cpus: cpus.optional(),
    memory: convert(z.union([str, z.number()], { error: expect('a size like "64m"') }), parseBytes).optional(),
    pids: z.int({ error: expect('an integer >= 1') }).min(1, { error: expect('an integer >= 1') }).optional(),
  },
  { error: expect('a mapping') },
).transform((l): ResourceLimits => ({ ...(l.cpus !== undefined && { nanoCpus: l.cpus }), ...(l.memory !== undefined && { memoryBytes: l.memory }), ...(l.pids !== undefined && { pids: l.pids }) }));
const reservations = z.looseObject(
  {
    cpus: cpus.optional(),
    memory: convert(z.union([str, z.number()], { error: expect('a size like "64m"') }), parseBytes).optional(),
  },
  { error: expect('a mapping') },
).transform((r): ResourceReservations => ({ ...(r.cpus !== undefined && { nanoCpus: r.cpus }), ...(r.memory !== undefined && { memoryBytes: r.memory }) }));
export const resources = z.looseObject({ limits: limits.optional(), reservations: reservations.optional() }, { error: expect('a mapping') });

/** The service-level keys of a container, each checked. */
export const containerKeys = {
  init: bool.optional(),
  working_dir: absolutePath.optional(),
  stop_signal: convert(z.union([str, z.int()], { error: expect('a signal name like "SIGTERM"') }), parseSignal).optional(),
  read_only: bool.optional(),
  tmpfs: tmpfs.optional(),
  cap_add: list(capability).optional(),
  cap_drop: list(capability).optional(),
  sysctls: keyValues(/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/, 'sysctl').optional(),
  ulimits: ulimits.optional(),
  extra_hosts: extraHosts.optional(),
  labels: keyValues(/^(?!org\.meshd\.)[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'label (org.meshd.* is meshd\'s own)').optional(),
};

/** What the keys make of a container (only those set). */
export function containerOptions(s: {
  init?: boolean;
  working_dir?: string;
  stop_signal?: string;
  read_only?: boolean;
  tmpfs?: string[];
  cap_add?: string[];
  cap_drop?: string[];
  sysctls?: Record<string, string>;
  ulimits?: Record<string, { soft: number; hard: number }>;
  extra_hosts?: string[];
  labels?: Record<string, string>;
  limits?: ResourceLimits;
  mounts?: MountSpec[];
}): ContainerOptions | undefined {
  const o: ContainerOptions = {
    ...(s.init !== undefined && { init: s.init }),
    ...(s.working_dir !== undefined && { workingDir: s.working_dir }),
    ...(s.read_only !== undefined && { readOnly: s.read_only }),
    ...(s.tmpfs !== undefined && { tmpfs: s.tmpfs }),
    ...(s.cap_add !== undefined && { capAdd: s.cap_add }),
    ...(s.cap_drop !== undefined && { capDrop: s.cap_drop }),
    ...(s.sysctls !== undefined && { sysctls: s.sysctls }),
    ...(s.ulimits !== undefined && { ulimits: s.ulimits }),
    ...(s.extra_hosts !== undefined && { extraHosts: s.extra_hosts }),
    ...(s.labels !== undefined && { labels: s.labels }),
    ...(s.limits !== undefined && Object.keys(s.limits).length > 0 && { limits: s.limits }),
    ...(s.mounts !== undefined && s.mounts.length > 0 && { mounts: s.mounts }),
  };
  return Object.keys(o).length > 0 ? o : undefined;
}
