import { readFile } from 'node:fs/promises';

/** The mount table (/proc/self/mountinfo): what is mounted where, and with which filesystem. */

export interface MountEntry {
  mountPoint: string;
  fsType: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountPath(raw: string): string {
  return raw.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export async function readMounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const parts = line.split(' ');
    const sep = parts.indexOf('-');
    if (parts[4] === undefined || sep < 0) continue;
    out.push({ mountPoint: unescapeMountPath(parts[4]), fsType: parts[sep + 1] ?? '' });
  }
  return out;
}

/** Every mount at `dir` or below it. */
export async function mountsUnder(dir: string): Promise<MountEntry[]> {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return (await readMounts()).filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(prefix));
}
