import { describe, expect, it } from 'vitest';
import { parseUserSpec, resolveTaskUser, setprivArgv } from '../../core/task-user.js';
import { parse } from './stack-helpers.js';

const PASSWD = ['root:x:0:0:root:/root:/bin/bash', '# comment', 'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin', 'app:x:1000:1000::/home/app:/bin/sh', 'broken line'].join('\n');
const GROUP = ['root:x:0:', 'www-data:x:33:', 'app:x:1000:', 'audio:x:29:app,other', 'video:x:44:app', 'staff:x:50:'].join('\n');
const resolve = (spec: string) => resolveTaskUser(spec, { passwd: PASSWD, group: GROUP });

describe('compose user: syntax', () => {
  it.each(['0', '1000', '1000:1000', 'www-data', 'www-data:staff', 'app:50', '1000:staff', 'host$'])('accepts %s', (spec) => {
    expect(parseUserSpec(spec).ok).toBe(true);
  });
  it.each([
    ['', 'must be "uid", "uid:gid", "name" or "name:group", got ""'],
    ['a:b:c', 'must be "uid", "uid:gid", "name" or "name:group", got "a:b:c"'],
    ['app:', 'group "" is neither a number nor a valid name (^[a-zA-Z_][a-zA-Z0-9_.-]{0,31}\\$?$)'],
    ['4294967295', 'user id 4294967295 is out of range (0 to 4294967294)'],
    ['1000:4294967295', 'group id 4294967295 is out of range (0 to 4294967294)'],
    ['-1', 'user "-1" is neither a number nor a valid name (^[a-zA-Z_][a-zA-Z0-9_.-]{0,31}\\$?$)'],
  ])('refuses %j', (spec, message) => {
    expect(parseUserSpec(spec)).toEqual({ ok: false, message });
  });
  it('is carried into the service spec as a string (a bare number too)', () => {
    const spec = (u: string) => parse(`services: {a: {command: x, user: ${u}}}\n`).spec.services.a!.user;
    expect(spec('1000')).toBe('1000');
    expect(spec('"app:staff"')).toBe('app:staff');
    expect(parse('services: {a: {command: x}}\n').spec.services.a!.user).toBeUndefined();
  });
});

describe('compose user: resolution against /etc/passwd and /etc/group (Docker rules)', () => {
  it('a name: its uid, primary gid, supplementary groups and home', () => {
    expect(resolve('app')).toEqual({ ok: true, value: { uid: 1000, gid: 1000, groups: [29, 44], home: '/home/app' } });
  });
  it('a uid found in passwd is the same user', () => {
    expect(resolve('33')).toEqual({ ok: true, value: { uid: 33, gid: 33, groups: [], home: '/var/www' } });
  });
  it('a uid not in passwd runs with gid 0 and HOME /', () => {
    expect(resolve('4242')).toEqual({ ok: true, value: { uid: 4242, gid: 0, groups: [], home: '/' } });
  });
  it('a group given replaces the primary group and drops the supplementary ones', () => {
    expect(resolve('app:staff')).toEqual({ ok: true, value: { uid: 1000, gid: 50, groups: [], home: '/home/app' } });
    expect(resolve('4242:4343')).toEqual({ ok: true, value: { uid: 4242, gid: 4343, groups: [], home: '/' } });
  });
  it('an unknown name or group is an error naming it', () => {
    expect(resolve('nosuch')).toEqual({ ok: false, message: 'no user "nosuch" in /etc/passwd' });
    expect(resolve('app:nosuch')).toEqual({ ok: false, message: 'no group "nosuch" in /etc/group' });
  });
});

describe('setpriv prefix', () => {
  const BOUNDING =
    '--bounding-set=-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,+net_raw,+sys_chroot,+audit_write,+setfcap';
  it('root: only the bounding set (no sys_admin, no mknod, no net_admin)', () => {
    expect(setprivArgv(undefined)).toEqual(['setpriv', BOUNDING, '--inh-caps=-all', '--']);
  });
  it('a user: ids and groups', () => {
    expect(setprivArgv({ uid: 1000, gid: 1000, groups: [29, 44], home: '/home/app' })).toEqual([
      'setpriv', BOUNDING, '--inh-caps=-all', '--reuid=1000', '--regid=1000', '--groups=29,44', '--',
    ]);
    expect(setprivArgv({ uid: 4242, gid: 0, groups: [], home: '/' })).toEqual(['setpriv', BOUNDING, '--inh-caps=-all', '--reuid=4242', '--regid=0', '--clear-groups', '--']);
  });
});
