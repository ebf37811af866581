import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loginFiles, normalizeRegistry, parseLoginFile, registryLogins } from '../../cli/registry-logins.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('registry logins for --with-registry-auth', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshd-logins-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("looks where podman and docker keep logins, in podman's order", () => {
    expect(loginFiles({ env: { REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/user/7', DOCKER_CONFIG: '/dc' }, uid: 7, home: '/home/u' })).toEqual([
      '/a.json',
      '/run/user/7/containers/auth.json',
      '/run/containers/7/auth.json',
      '/dc/config.json',
    ]);
    expect(loginFiles({ env: {}, uid: 0, home: '/root' })).toEqual(['/run/containers/0/auth.json', '/root/.docker/config.json']);
  });

  it('names registries as image references do', () => {
    expect(normalizeRegistry('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeRegistry('registry.example:5000')).toBe('registry.example:5000');
    expect(normalizeRegistry('http://Registry.Example:5000/v2/')).toBe('registry.example:5000');
  });

  it('reads auth entries and user/password pairs, and says what it cannot send', () => {
    const text = JSON.stringify({
      auths: {
        'r1.test:5000': { auth: b64('alice:pw1') },
        'https://index.docker.io/v1/': { username: 'bob', password: 'pw2' },
        'r3.test': { identitytoken: 'tok' },
        'r4.test': 'junk',
      },
      credsStore: 'desktop',
    });
    expect(parseLoginFile(text, '/x/config.json')).toEqual({
      auths: { 'r1.test:5000': b64('alice:pw1'), 'docker.io': b64('bob:pw2') },
      warnings: [
        '/x/config.json: credential helpers (credsStore, credHelpers) are not read; logins kept in the file are',
        '/x/config.json: r3.test: identity tokens are not supported; log in with a password',
      ],
    });
    expect(() => parseLoginFile('{nope', '/x/auth.json')).toThrow(/^\/x\/auth\.json: not JSON/);
  });

  it('takes each registry from the first file that has it, and lists the registries with no login', async () => {
    const first = join(dir, 'auth.json');
    const docker = join(dir, 'docker');
    await mkdir(docker);
    await writeFile(first, JSON.stringify({ auths: { 'r1.test:5000': { auth: b64('first:pw') } } }));
    await writeFile(join(docker, 'config.json'), JSON.stringify({ auths: { 'r1.test:5000': { auth: b64('second:pw') }, 'r2.test': { auth: b64('carol:pw') }, 'unused.test': { auth: b64('x:y') } } }));
    const got = await registryLogins(['r2.test', 'r1.test:5000', 'none.test', 'r1.test:5000'], { env: { REGISTRY_AUTH_FILE: first, DOCKER_CONFIG: docker }, uid: 4242, home: dir });
    expect(got).toEqual({ auths: { 'r1.test:5000': b64('first:pw'), 'r2.test': b64('carol:pw') }, missing: ['none.test'], warnings: [] });
  });
});
