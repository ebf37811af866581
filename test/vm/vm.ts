/**
 * A throwaway virtual machine that runs one command on a stock Debian kernel (one with IPVS),
 * over this machine's own root filesystem, and returns the command's exit status.
 *
 *   kernel      Debian's linux-image-amd64 (`apt-get download` + `dpkg -x`, `depmod -b`), cached
 *   initramfs   busybox-static + test/vm/init.sh + the virtio/9p/overlay modules it loads
 *   root        this machine's `/` over 9p, read-only, under a tmpfs overlay (Node, nats-server,
 *               iproute2, ipvsadm ... are all there); the kernel's modules over a second 9p share
 *   checkout    shared read-write at the same path, so results come back (`.vm/` in it)
 *   accel       TCG (KVM does not work on this machine); no network card: the tests build their
 *               own namespaces inside the guest
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';

export const CHECKOUT = resolve(import.meta.dirname, '..', '..');
const CACHE = process.env.MESHD_VM_CACHE ?? '/var/cache/meshd/vm';
const META_PACKAGE = 'linux-image-amd64';

/** Modules the initramfs needs; their dependencies come from modules.dep. */
const INITRAMFS_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

export interface Kernel {
  version: string;
  vmlinuz: string;
  modules: string;
}

async function sh(argv: string[], cwd?: string): Promise<string> {
  const res = await execa(argv[0]!, argv.slice(1), { cwd, reject: false });
  if (res.exitCode !== 0) throw new Error(`${argv.join(' ')} exited ${res.exitCode}: ${String(res.stderr).trim()}`);
  return String(res.stdout);
}

/** The versioned kernel package `linux-image-amd64` depends on (e.g. linux-image-6.1.0-56-amd64). */
async function kernelPackage(): Promise<string> {
  const depends = async () => /Depends: (linux-image-[^\s]+)/.exec(await sh(['apt-cache', 'depends', META_PACKAGE]).catch(() => ''))?.[1];
  const pkg = (await depends()) ?? (await sh(['apt-get', 'update', '-qq']).then(depends));
  if (!pkg) throw new Error(`apt knows no ${META_PACKAGE}: is Debian's apt configured?`);
  return pkg;
}

/** Downloads and unpacks Debian's kernel once per version; returns where it is. */
export async function prepareKernel(log: (line: string) => void): Promise<Kernel> {
  const pkg = await kernelPackage();
  const version = pkg.replace(/^linux-image-/, '');
  const root = join(CACHE, pkg);
  const vmlinuz = join(root, 'boot', `vmlinuz-${version}`);
  const modules = join(root, 'lib', 'modules', version);
  if (!existsSync(join(modules, 'modules.dep'))) {
    log(`vm: fetching ${pkg}`);
    const dl = await mkdtemp(join(tmpdir(), 'meshd-vm-deb-'));
    try {
      // `_apt` cannot write into a root-only temp dir; let apt warn and download as root.
      await sh(['apt-get', 'download', '-q', pkg], dl);
      const deb = (await readdir(dl)).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${pkg} left no .deb`);
      await rm(root, { recursive: true, force: true });
      await mkdir(root, { recursive: true });
      await sh(['dpkg', '-x', join(dl, deb), root]);
      await sh(['depmod', '-b', root, version]);
    } finally {
      await rm(dl, { recursive: true, force: true });
    }
  }
  return { version, vmlinuz, modules };
}

/**
 * Module files (relative to the modules directory) in the order insmod must load them: each
 * module after its dependencies. modules.dep lists a module's dependencies last-loaded first.
 */
async function loadOrder(kernel: Kernel, roots: string[]): Promise<string[]> {
  const deps = new Map<string, string[]>();
  for (const line of (await readFile(join(kernel.modules, 'modules.dep'), 'utf8')).split('\n')) {
    const [mod, rest] = line.split(':');
    if (mod && rest !== undefined) deps.set(mod, rest.trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map([...deps.keys()].map((m) => [m.split('/').pop()!.replace(/\.ko$/, ''), m]));
  const order: string[] = [];
  const visit = (mod: string) => {
    if (order.includes(mod)) return;
    for (const d of [...(deps.get(mod) ?? [])].reverse()) visit(d);
    order.push(mod);
  };
  for (const name of roots) {
    const mod = byName.get(name);
    if (!mod) throw new Error(`kernel ${kernel.version} has no module ${name}`);
    visit(mod);
  }
  return order;
}

/** busybox + init + the modules init loads, as a gzipped newc cpio. */
async function buildInitramfs(kernel: Kernel, out: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'meshd-vm-initramfs-'));
  try {
    await mkdir(join(dir, 'bin'));
    await mkdir(join(dir, 'modules'));
    await copyFile('/bin/busybox', join(dir, 'bin', 'busybox'));
    await copyFile(join(CHECKOUT, 'test', 'vm', 'init.sh'), join(dir, 'init'));
    const names: string[] = [];
    for (const rel of await loadOrder(kernel, INITRAMFS_MODULES)) {
      const name = rel.split('/').pop()!.replace(/\.ko$/, '');
      await copyFile(join(kernel.modules, rel), join(dir, 'modules', `${name}.ko`));
      names.push(name);
    }
    await writeFile(join(dir, 'modules.list'), names.join('\n') + '\n');
    await sh(['chmod', '755', join(dir, 'init'), join(dir, 'bin', 'busybox')]);
    await sh(['sh', '-c', `find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > '${out}'`], dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface VmRun {
  /** A bash script run in the checkout, as root, inside the VM. */
  script: string;
  memoryMb?: number;
  cpus?: number;
  timeoutMs: number;
  /** Each console line (the guest's serial port). */
  onLine?: (line: string) => void;
}

/**
 * Boots the VM, runs `script`, and returns its exit status (`undefined` when the guest never
 * reported one: it crashed, could not mount, or ran out of time). The console goes to
 * `.vm/console.log` in the checkout.
 */
export async function runInVm(opts: VmRun, log: (line: string) => void = console.log): Promise<number | undefined> {
  for (const bin of ['qemu-system-x86_64', '/bin/busybox', 'depmod']) {
    await sh(['sh', '-c', `command -v ${bin}`]).catch(() => {
      throw new Error(`the VM lane needs ${bin}: run scripts/setup.sh`);
    });
  }
  const kernel = await prepareKernel(log);
  const state = join(CHECKOUT, '.vm');
  await mkdir(state, { recursive: true });
  await rm(join(state, 'status'), { force: true });
  await writeFile(join(state, 'command'), opts.script);
  const initrd = join(state, 'initramfs.gz');
  await buildInitramfs(kernel, initrd);

  const args = [
    '-accel', 'tcg,thread=multi',
    '-cpu', 'max',
    '-smp', String(opts.cpus ?? 2),
    '-m', String(opts.memoryMb ?? 6144),
    '-nodefaults', '-no-user-config', '-no-reboot',
    '-display', 'none',
    '-serial', 'stdio',
    '-nic', 'none',
    '-kernel', kernel.vmlinuz,
    '-initrd', initrd,
    '-append', `console=ttyS0 panic=-1 quiet loglevel=4 meshd.checkout=${CHECKOUT}`,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${kernel.modules},mount_tag=modules,security_model=none,readonly=on,multidevs=remap`,
    '-virtfs', `local,path=${CHECKOUT},mount_tag=checkout,security_model=none,multidevs=remap`,
  ];
  log(`vm: booting ${kernel.version} under qemu (TCG)`);
  const console_ = createWriteStream(join(state, 'console.log'));
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let partial = '';
  const onData = (chunk: Buffer) => {
    console_.write(chunk);
    const lines = (partial + chunk.toString('utf8').replace(/\r/g, '')).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) opts.onLine?.(l);
  };
  qemu.stdout.on('data', onData);
  qemu.stderr.on('data', onData);
  const exited = new Promise<number | null>((res) => qemu.on('exit', (code) => res(code)));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((res) => {
    timer = setTimeout(() => res('timeout'), opts.timeoutMs);
  });
  const outcome = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    log(`vm: no power-off after ${opts.timeoutMs} ms; stopping qemu (pid ${qemu.pid})`);
    qemu.kill('SIGKILL');
    await exited;
  }
  if (partial) opts.onLine?.(partial);
  await new Promise<void>((res) => console_.end(res));
  const status = await readFile(join(state, 'status'), 'utf8').catch(() => undefined);
  return status === undefined ? undefined : Number(status.trim());
}
