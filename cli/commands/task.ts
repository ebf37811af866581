import { spawn } from 'node:child_process';
import { ValidationError, MeshError } from '../../core/errors.js';
import { findOne, snapshot } from '../cluster-view.js';
import { containerEnterArgv, readStartTicks, resolveUserOnNode, taskEnterArgv } from '../../worker/task-process.js';
import type { CommandContext } from './context.js';
import { environOf } from '../../core/proc.js';

/**
 * `task exec TASK -- CMD...`: runs CMD in the task's network, mount, UTS and pid namespaces (so it
 * sees the task's addresses, /etc/resolv.conf, hostname and processes), as the task's user. Works where the task's process is
 * visible, which in a dev cluster is every node.
 */
export async function taskExec(ctx: CommandContext, args: string[]): Promise<number> {
  const dash = args.indexOf('--');
  const ref = args[0];
  const argv = dash >= 0 ? args.slice(dash + 1) : args.slice(1);
  if (!ref || ref === '--' || argv.length === 0) throw new ValidationError(['task exec: usage: meshctl task exec TASK -- CMD [ARG...]']);
  const snap = await snapshot(ctx.buckets);
  const live = snap.tasks.filter((t) => t.desiredState === 'running');
  const task = findOne(live, ref, (t) => [t.name], 'task');
  const status = snap.statuses.get(task.id);
  if (!status?.pid || status.state !== 'running' || (await readStartTicks(status.pid)) === undefined) {
    throw new MeshError(`task ${task.name} is not running here (state ${status?.state ?? 'unknown'})`);
  }
  // Like `docker exec`: the task's own environment, user and capabilities, not meshctl's.
  const env = await environOf(status.pid);
  const spec = snap.services.find((s) => s.id === task.serviceId)?.spec;
  // A container: its own user, root and tools; a command task: the node's, as its compose user.
  const user = status.containerId !== undefined || spec?.user === undefined ? undefined : await resolveUserOnNode(spec.user);
  const [cmd, ...rest] = status.containerId !== undefined ? await containerEnterArgv(status.pid, argv) : taskEnterArgv(status.pid, argv, user);
  const child = spawn(cmd!, rest, { stdio: 'inherit', env });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
}
