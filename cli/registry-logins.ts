/**
 * The caller's registry logins, for `meshctl stack deploy --with-registry-auth`: read where
 * `podman login` and `docker login` keep them, in podman's order (the first file naming a registry
 * wins): `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
 * `/run/containers/<uid>/auth.json`, then Docker's `$DOCKER_CONFIG/config.json` (default
 * `~/.docker/config.json`). Only the logins of the registries the stack's images use are sent.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface LoginFileEnv {
  env: NodeJS.ProcessEnv;
  uid: number;
  home: string;
}

/** Where logins may be, most preferred first. */
export function loginFiles({ env, uid, home }: LoginFileEnv): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(`/run/containers/${uid}/auth.json`);
  files.push(join(env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json'));
  return files;
}

/**
 * A registry as a login file names it, the way image references name it: scheme and path
 * dropped (`https://index.docker.io/v1/` is Docker Hub, which references call `docker.io`).
 */
export function normalizeRegistry(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!.toLowerCase();
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

export interface ParsedLogins {
  /** registry -> base64 `user:password` */
  auths: Record<string, string>;
  /** What the file holds that cannot be sent (credential helpers, identity tokens). */
  warnings: string[];
}

/** One auth file (podman's auth.json or Docker's config.json). Throws naming the file when it is not JSON. */
export function parseLoginFile(text: string, file: string): ParsedLogins {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`);
  }
  const out: ParsedLogins = { auths: {}, warnings: [] };
  if (typeof doc !== 'object' || doc === null) return out;
  const { auths, credsStore, credHelpers } = doc as { auths?: unknown; credsStore?: unknown; credHelpers?: unknown };
  if (typeof credsStore === 'string' || (typeof credHelpers === 'object' && credHelpers !== null && Object.keys(credHelpers).length > 0)) {
    out.warnings.push(`${file}: credential helpers (credsStore, credHelpers) are not read; logins kept in the file are`);
  }
  if (typeof auths !== 'object' || auths === null) return out;
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as { auth?: unknown; username?: unknown; password?: unknown; identitytoken?: unknown };
    const auth =
      typeof e.auth === 'string' && e.auth !== '' ? e.auth
      : typeof e.username === 'string' && typeof e.password === 'string' ? Buffer.from(`${e.username}:${e.password}`).toString('base64')
      : undefined;
    if (auth !== undefined) out.auths[normalizeRegistry(key)] ??= auth;
    else if (typeof e.identitytoken === 'string') out.warnings.push(`${file}: ${key}: identity tokens are not supported; log in with a password`);
  }
  return out;
}

export interface RegistryLogins {
  /** registry -> base64 `user:password`, for the registries asked for that have a login. */
  auths: Record<string, string>;
  /** Registries asked for with no login anywhere (their pulls go without one). */
  missing: string[];
  warnings: string[];
}

/** The logins of `registries`, from the first file that has each. */
export async function registryLogins(registries: readonly string[], where: LoginFileEnv = { env: process.env, uid: process.getuid?.() ?? 0, home: homedir() }): Promise<RegistryLogins> {
  const merged: ParsedLogins = { auths: {}, warnings: [] };
  for (const file of loginFiles(where)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    const parsed = parseLoginFile(text, file);
    for (const [registry, auth] of Object.entries(parsed.auths)) merged.auths[registry] ??= auth;
    merged.warnings.push(...parsed.warnings);
  }
  const wanted = [...new Set(registries)].sort();
  const auths = Object.fromEntries(wanted.filter((r) => merged.auths[r] !== undefined).map((r) => [r, merged.auths[r]!]));
  return { auths, missing: wanted.filter((r) => merged.auths[r] === undefined), warnings: merged.warnings };
}
