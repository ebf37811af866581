/**
 * Small container images made here from what the machine has (nothing is downloaded): built FROM
 * scratch by podman out of busybox-static, in a podman store of the caller's own (a temp dir), and
 * pushed to a plain-HTTP registry. `meshctl demo` and the images e2e use it.
 */
import { execa, type ResultPromise } from 'execa';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseStorage, detectPodman } from '../../worker/engine/podman.js';
import { podmanGlobalArgs, rlimitArgs, type PodmanSetup } from '../../worker/engine/podman-argv.js';
import { unmountAllUnder } from './mounts.js';

/** Debian's busybox-static: one static binary, so the image needs nothing else from the machine. */
export const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'httpd', 'nc', 'cat', 'echo', 'ls', 'sleep', 'wget', 'id', 'env', 'hostname', 'ps', 'head', 'grep', 'nslookup', 'true', 'kill', 'dd'];

export interface ImageRecipe {
  /** `name:tag`, built as `localhost/<name:tag>`, pushed as `<registry>/<name:tag>`. */
  tag: string;
  /** Containerfile lines after `FROM scratch` and the busybox tree (CMD, HEALTHCHECK, ENV ...). */
  lines: string[];
  /** Extra files of the image: path inside it -> content (mode 0755). */
  files?: Record<string, string>;
}

/** A podman store of its own (under one temp dir), to build and push images from. */
export class ImageBuilder {
  private constructor(
    readonly dir: string,
    private readonly setup: PodmanSetup,
  ) {}

  static async create(): Promise<ImageBuilder> {
    const dir = await mkdtemp(join(tmpdir(), 'meshd-images-'));
    try {
      const found = await detectPodman({ stateDir: join(dir, 'state'), runDir: join(dir, 'run') });
      if (!found.ok) throw new Error(`podman is needed to build images: ${found.reason}`);
      return new ImageBuilder(dir, await chooseStorage(found.base));
    } catch (err) {
      await removeDir(dir);
      throw err;
    }
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
    try {
      await this.podman(['build', '--quiet', '--format', 'docker', '--tag', local, ctx]);
    } finally {
      await rm(ctx, { recursive: true, force: true });
    }
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

  /**
   * podman on this store as another runtime on a node would run it: inside the node's network
   * namespace (nsenter, which keeps the mounts: `ip netns exec` remounts /sys), with extra
   * environment (CONTAINERS_CONF). Resolves to its outcome; never throws on a non-zero exit.
   */
  async runtime(args: string[], opts: { netns: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }> {
    const argv = ['nsenter', `--net=${opts.netns}`, '--', this.setup.binary, ...podmanGlobalArgs(this.setup), ...args];
    const res = await execa(argv[0]!, argv.slice(1), { reject: false, env: opts.env, timeout: opts.timeoutMs ?? 120_000 });
    return { code: res.exitCode ?? -1, stdout: String(res.stdout), stderr: String(res.stderr) };
  }

  /** `--ulimit` flags within this machine's own limits (podman's defaults exceed them without CAP_SYS_RESOURCE). */
  get ulimitArgs(): string[] {
    return rlimitArgs(this.setup, undefined);
  }

  /** Writes `local` as a docker-archive file (for `meshctl image load`). */
  async save(local: string, file: string): Promise<void> {
    await this.podman(['save', '--quiet', '--format', 'docker-archive', '--output', file, local]);
  }

  /**
   * Removes the store: its containers and images through podman, then the overlay driver's own
   * mount of its home (`<root>/overlay`) and anything else mounted under the temp dir (not
   * `podman system reset`, which also deletes the machine's podman networks), then the dir.
   */
  async remove(): Promise<void> {
    await this.podman(['rm', '--all', '--force']).catch(() => undefined);
    await this.podman(['rmi', '--all', '--force']).catch(() => undefined);
    await execa('umount', [join(this.setup.root, this.setup.storageDriver)], { reject: false });
    await removeDir(this.dir);
  }
}

async function removeDir(dir: string): Promise<void> {
  await unmountAllUnder(dir);
  await rm(dir, { recursive: true, force: true });
}
