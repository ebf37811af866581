/**
 * Real images and a real registry for tests, made here from what the machine has (nothing is
 * downloaded): the builder (cli/dev/images.ts) and the registry (cli/dev/registry.ts) are the
 * ones `meshctl demo` uses; a login file for registries with auth is the tests' own.
 */
import { writeFile } from 'node:fs/promises';

export { ImageBuilder, type ImageRecipe } from '../../cli/dev/images.js';
export { DevRegistry as TestRegistry } from '../../cli/dev/registry.js';

/** A podman/docker login file (`auth.json`) holding one login. */
export async function writeLoginFile(file: string, registry: string, login: { user: string; password: string }): Promise<void> {
  await writeFile(file, JSON.stringify({ auths: { [registry]: { auth: Buffer.from(`${login.user}:${login.password}`).toString('base64') } } }), { mode: 0o600 });
}
