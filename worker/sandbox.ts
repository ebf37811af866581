import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { TaskRecord } from '../core/model.js';
import { ensureNetns, pidsInNetns, removeNetns } from '../core/netns.js';
import type { RunPaths } from './paths.js';

/**
 * A task's sandbox: a network namespace held by a bind mount (the pause role, so it outlives
 * process restarts) and the files its mount namespace shows as /etc/resolv.conf and /etc/hosts.
 */
export interface SandboxFiles {
  netns: string;
  resolvConf: string;
  hosts: string;
  log: string;
}

export async function ensureSandbox(paths: RunPaths, task: TaskRecord, resolvConf: string): Promise<SandboxFiles> {
  const dir = paths.taskDir(task.id);
  await mkdir(dir, { recursive: true });
  const files: SandboxFiles = {
    netns: paths.taskNetns(task.id),
    resolvConf: `${dir}/resolv.conf`,
    hosts: `${dir}/hosts`,
    log: paths.taskLog(task.id),
  };
  await ensureNetns(files.netns);
  await writeFile(files.resolvConf, resolvConf);
  await writeFile(files.hosts, renderHosts(task));
  return files;
}

export function renderHosts(task: TaskRecord): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const a of task.addresses) lines.push(`${a.addr.split('/')[0]}\t${task.name}`);
  return lines.join('\n') + '\n';
}

/** A task resolves through the node's embedded DNS, on the gateway bridge address. */
export function taskResolvConf(dnsAddr: string): string {
  return `nameserver ${dnsAddr}\noptions ndots:0\n`;
}

/** Kills whatever still runs in the sandbox, then releases the namespace (idempotent). */
export async function removeSandbox(paths: RunPaths, taskId: string): Promise<void> {
  const netns = paths.taskNetns(taskId);
  for (const pid of await pidsInNetns([netns])) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await removeNetns(netns);
}

/** Deletes the task's directory (its log included) once the task is gone from cluster state. */
export async function removeTaskDir(paths: RunPaths, taskId: string): Promise<void> {
  await rm(paths.taskDir(taskId), { recursive: true, force: true });
}
