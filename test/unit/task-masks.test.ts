import { describe, expect, it } from 'vitest';
import { taskMaskPaths } from '../../worker/masks.js';
import { taskEnterArgv, taskLaunchArgv } from '../../worker/task-process.js';

describe('what a task must not see', () => {
  it('state dir, run dir, the dev home and the default dev home; only the outermost of nested ones', () => {
    expect(taskMaskPaths({ stateDir: '/var/lib/meshd', runDir: '/run/meshd', env: {} })).toEqual(['/run/meshd', '/var/lib/meshd']);
    expect(
      taskMaskPaths({ stateDir: '/tmp/h/c/nodes/node-1/state', runDir: '/tmp/h/c/nodes/node-1/run', env: { MESHD_DEV_HOME: '/tmp/h' } }),
    ).toEqual(['/tmp/h', '/var/lib/meshd/dev']);
    expect(taskMaskPaths({ stateDir: '/srv/meshd/', runDir: '/srv/meshd/run', env: { MESHD_DEV_HOME: '' } })).toEqual(['/srv/meshd', '/var/lib/meshd/dev']);
  });

  it('launch argv: own pid namespace, masks counted then listed, setpriv before the command', () => {
    const argv = taskLaunchArgv({
      files: { netns: '/run/meshd/netns/t_abc', resolvConf: '/r', hosts: '/h', log: '/l' },
      hostname: 'st_web.1',
      argv: ['node', 'server.js'],
      masks: ['/run/meshd', '/var/lib/meshd'],
      user: { uid: 33, gid: 33, groups: [], home: '/var/www' },
    });
    expect(argv.slice(0, 13)).toEqual([
      'nsenter', '--net=/run/meshd/netns/t_abc', '--', 'unshare', '--mount', '--uts', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', '--propagation', 'private', '--',
    ]);
    const rest = argv.slice(16);
    expect(rest.slice(0, 7)).toEqual(['meshd-task', '/r', '/h', 'st_web.1', '2', '/run/meshd', '/var/lib/meshd']);
    expect(rest.slice(7, 8)).toEqual(['setpriv']);
    expect(rest.slice(-6)).toEqual(['--reuid=33', '--regid=33', '--clear-groups', '--', 'node', 'server.js']);
  });

  it('health checks and exec enter the task through the pid we hold', () => {
    expect(taskEnterArgv(42, ['id']).slice(0, 7)).toEqual(['nsenter', '--target=42', '--net', '--mount', '--uts', '--pid=/proc/42/ns/pid_for_children', '--']);
  });
});
