import { readFile } from 'node:fs/promises';

/** A process's environment, from /proc/<pid>/environ (for exec and health checks in a task). */
export async function environOf(pid: number): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const kv of (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}
