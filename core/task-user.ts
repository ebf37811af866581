/**
 * The compose `user:` key, as Docker reads it: `uid`, `uid:gid`, `name`, `name:group` (and the
 * mixed forms), resolved against the node's /etc/passwd and /etc/group. Pure: the files' text
 * comes in as strings, so the stack parser (syntax) and the worker (resolution) share it.
 */

const NUMERIC = /^[0-9]+$/;
/** POSIX-ish user and group names (useradd's default pattern, plus a trailing `$` for machines). */
const NAME = /^[a-zA-Z_][a-zA-Z0-9_.-]{0,31}\$?$/;
/** uid_t is 32 bits and (uid_t)-1 means "unchanged" to the kernel. */
const MAX_ID = 2 ** 32 - 2;

export interface UserRef {
  user: string;
  group?: string;
}

/** A user resolved to ids: what the task process runs as. */
export interface TaskUser {
  uid: number;
  gid: number;
  /** Supplementary groups (from /etc/group when the user has a name there). */
  groups: number[];
  /** HOME for the task: the passwd entry's home, else `/`. */
  home: string;
}

function checkPart(part: string, what: 'user' | 'group'): string | undefined {
  if (NUMERIC.test(part)) return Number(part) <= MAX_ID ? undefined : `${what} id ${part} is out of range (0 to ${MAX_ID})`;
  return NAME.test(part) ? undefined : `${what} ${JSON.stringify(part)} is neither a number nor a valid name (${NAME.source})`;
}

/** Syntax only; an error message or the parts. */
export function parseUserSpec(text: string): { ok: true; value: UserRef } | { ok: false; message: string } {
  const parts = text.split(':');
  if (text === '' || parts.length > 2) return { ok: false, message: `must be "uid", "uid:gid", "name" or "name:group", got ${JSON.stringify(text)}` };
  const [user = '', group] = parts;
  const bad = checkPart(user, 'user') ?? (group === undefined ? undefined : checkPart(group, 'group'));
  if (bad) return { ok: false, message: bad };
  return { ok: true, value: group === undefined ? { user } : { user, group } };
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function passwdEntries(text: string): PasswdEntry[] {
  return text.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#') || !NUMERIC.test(f[2]!) || !NUMERIC.test(f[3]!)) return [];
    return [{ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' }];
  });
}

function groupEntries(text: string): GroupEntry[] {
  return text.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#') || !NUMERIC.test(f[2]!)) return [];
    return [{ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter(Boolean) }];
  });
}

/**
 * Docker's rules: a name must exist in passwd; a numeric uid need not (then gid 0, HOME /); a
 * group given overrides the primary group and there are no supplementary groups; otherwise the
 * user's groups in /etc/group are its supplementary groups.
 */
export function resolveTaskUser(spec: string, files: { passwd: string; group: string }): { ok: true; value: TaskUser } | { ok: false; message: string } {
  const parsed = parseUserSpec(spec);
  if (!parsed.ok) return parsed;
  const { user, group } = parsed.value;
  const users = passwdEntries(files.passwd);
  const entry = NUMERIC.test(user) ? users.find((u) => u.uid === Number(user)) : users.find((u) => u.name === user);
  if (!entry && !NUMERIC.test(user)) return { ok: false, message: `no user ${JSON.stringify(user)} in /etc/passwd` };
  const uid = entry?.uid ?? Number(user);
  const groups = groupEntries(files.group);
  let gid = entry?.gid ?? 0;
  if (group !== undefined) {
    const g = NUMERIC.test(group) ? { gid: Number(group) } : groups.find((x) => x.name === group);
    if (!g) return { ok: false, message: `no group ${JSON.stringify(group)} in /etc/group` };
    gid = g.gid;
  }
  const supplementary = group === undefined && entry ? groups.filter((g) => g.members.includes(entry.name) && g.gid !== gid).map((g) => g.gid) : [];
  return { ok: true, value: { uid, gid, groups: [...new Set(supplementary)].sort((a, b) => a - b), home: entry?.home ?? '/' } };
}

/**
 * Capabilities a task keeps (Docker's default set, without MKNOD: there is no device cgroup here,
 * so a task that could create device nodes could open the node's disks). Everything else,
 * CAP_SYS_ADMIN above all (which would let a task unmount the masks), is gone from its
 * bounding set before the command runs.
 */
export const TASK_CAPABILITIES = [
  'chown',
  'dac_override',
  'fowner',
  'fsetid',
  'kill',
  'setgid',
  'setuid',
  'setpcap',
  'net_bind_service',
  'net_raw',
  'sys_chroot',
  'audit_write',
  'setfcap',
] as const;

/** `setpriv ... --` prefix: the task's bounding set, and its user when one is given. */
export function setprivArgv(user: TaskUser | undefined): string[] {
  const argv = ['setpriv', `--bounding-set=-all,${TASK_CAPABILITIES.map((c) => `+${c}`).join(',')}`, '--inh-caps=-all'];
  if (user) {
    argv.push(`--reuid=${user.uid}`, `--regid=${user.gid}`, user.groups.length ? `--groups=${user.groups.join(',')}` : '--clear-groups');
  }
  return [...argv, '--'];
}
