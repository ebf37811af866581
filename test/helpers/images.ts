/**
 * Real images and a real registry for tests, made here from what the machine has (nothing is
 * downloaded): images are built FROM scratch by podman out of busybox-static, in a store of the
 * test's own; Debian's `docker-registry` (the distribution registry) serves them over plain HTTP
 * inside a namespace the test made (a dev cluster's underlay).
 */
import { execa, type ResultPromise } from 'execa';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { chooseStorage, detectPodman } from '../../worker/engine/podman.js';
import { podmanGlobalArgs, type PodmanSetup } from '../../worker/engine/podman-argv.js';
import { waitFor } from './dev.js';

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'httpd', 'nc', 'cat', 'echo', 'ls', 'sleep', 'wget', 'id', 'env', 'hostname', 'ps', 'head', 'grep', 'nslookup', 'true', 'kill', 'dd'];

export interface ImageRecipe {
  /** `name:tag`, pushed as `<registry>/<name:tag>`. */
  tag: string;
  /** Containerfile lines after `FROM scratch` and the busybox tree (CMD, HEALTHCHECK, ENV ...). */
  lines: string[];
  /** Extra files of the image: path inside it -> content. */
  files?: Record<string, string>;
}

/** A podman store of the test's own, to build and push images from. */
export class ImageBuilder {
  private constructor(
    readonly dir: string,
    private readonly setup: PodmanSetup,
  ) {}

  static async create(): Promise<ImageBuilder> {
    const dir = await mkdtemp(join(tmpdir(), 'meshd-images-'));
    const found = await detectPodman({ stateDir: join(dir, 'state'), runDir: join(dir, 'run') });
    if (!found.ok) throw new Error(`podman is needed to build test images: ${found.reason}`);
    return new ImageBuilder(dir, await chooseStorage(found.base));
  }

  private podman(args: string[], opts: { netns?: string } = {}): ResultPromise {
    const argv = [this.setup.binary, ...podmanGlobalArgs(this.setup), ...args];
    return opts.netns ? execa('nsenter', [`--net=${opts.netns}`, '--', ...argv]) : execa(argv[0]!, argv.slice(1));
  }

  /** Builds `recipe` (docker format, so HEALTHCHECK is kept) as `localhost/<tag>`. */
  async build(recipe: ImageRecipe): Promise<string> {
    const ctx = await mkdtemp(join(this.dir, 'ctx-'));
    const root = join(ctx, 'rootfs');
    for (const d of ['bin', 'etc', 'tmp', 'www']) await mkdir(join(root, d), { recursive: true });
    await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
    for (const a of APPLETS) await symlink('busybox', join(root, 'bin', a));
    await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
    await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    for (const [path, content] of Object.entries(recipe.files ?? {})) {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), content, { mode: 0o755 });
    }
    await writeFile(join(ctx, 'Containerfile'), ['FROM scratch', 'COPY rootfs/ /', 'ENV PATH=/bin', ...recipe.lines, ''].join('\n'));
    const local = `localhost/${recipe.tag}`;
    await this.podman(['build', '--quiet', '--format', 'docker', '--tag', local, ctx]);
    await rm(ctx, { recursive: true, force: true });
    return local;
  }

  /**
   * Pushes a built image (Docker v2s2: OCI has no HEALTHCHECK) to a plain-HTTP registry reached
   * from `netns`, with a login file when it needs one; returns its reference there.
   */
  async push(local: string, registry: string, netns: string, opts: { authFile?: string } = {}): Promise<string> {
    const ref = `${registry}/${local.replace(/^localhost\//, '')}`;
    await this.podman(['push', '--quiet', '--tls-verify=false', '--format', 'v2s2', ...(opts.authFile ? ['--authfile', opts.authFile] : []), local, `docker://${ref}`], { netns });
    return ref;
  }

  /** Writes `local` as a docker-archive file (for `meshctl image load`). */
  async save(local: string, file: string): Promise<void> {
    await this.podman(['save', '--quiet', '--format', 'docker-archive', '--output', file, local]);
  }

  /**
   * Removes the store: its containers and images through podman, then the overlay driver's own
   * mount of its home (not `podman system reset`, which also deletes the machine's podman networks).
   */
  async remove(): Promise<void> {
    await this.podman(['rm', '--all', '--force']).catch(() => undefined);
    await this.podman(['rmi', '--all', '--force']).catch(() => undefined);
    await execa('umount', [join(this.setup.root, this.setup.storageDriver)], { reject: false });
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A podman/docker login file (`auth.json`) holding one login. */
export async function writeLoginFile(file: string, registry: string, login: { user: string; password: string }): Promise<void> {
  await writeFile(file, JSON.stringify({ auths: { [registry]: { auth: Buffer.from(`${login.user}:${login.password}`).toString('base64') } } }), { mode: 0o600 });
}

/** Debian's distribution registry (`docker-registry serve`), in a namespace the test made. */
export class TestRegistry {
  private constructor(
    readonly addr: string,
    private readonly dir: string,
    private readonly proc: ResultPromise,
  ) {}

  /** Serves on `addr` (`IP:PORT`) inside `netns`; storage in a temp dir; with `login`, htpasswd auth (one user). */
  static async start(opts: { netns: string; addr: string; login?: { user: string; password: string } }): Promise<TestRegistry> {
    const dir = await mkdtemp(join(tmpdir(), 'meshd-registry-'));
    const config = join(dir, 'config.yml');
    const auth: string[] = [];
    if (opts.login) {
      await writeFile(join(dir, 'htpasswd'), `${opts.login.user}:${bcrypt.hashSync(opts.login.password, 8)}\n`);
      auth.push('auth:', '  htpasswd:', '    realm: meshd-test', `    path: ${join(dir, 'htpasswd')}`);
    }
    await writeFile(config, ['version: 0.1', 'log: { level: warn }', 'storage:', `  filesystem: { rootdirectory: ${join(dir, 'data')} }`, 'http:', `  addr: ${opts.addr}`, ...auth, ''].join('\n'));
    const proc = execa('nsenter', [`--net=${opts.netns}`, '--', 'docker-registry', 'serve', config], { reject: false, stdio: ['ignore', 'ignore', 'pipe'] });
    const r = new TestRegistry(opts.addr, dir, proc);
    await waitFor('the registry answers', async () => {
      if (proc.exitCode !== null) throw new Error(`docker-registry exited ${proc.exitCode}`);
      const res = await execa('nsenter', [`--net=${opts.netns}`, '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${opts.addr}/v2/`], { reject: false });
      return String(res.stdout) === (opts.login ? '401' : '200') ? true : undefined;
    }, 20_000, 100);
    return r;
  }

  /** Ends the registry (by pid, once: a second call finds it stopped) and removes its storage. */
  async stop(): Promise<void> {
    if (this.proc.pid !== undefined && this.proc.exitCode === null && this.proc.signalCode === null) {
      process.kill(this.proc.pid, 'SIGTERM');
      await this.proc;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
