// Loads a CLI entry: the esbuild bundle in dist/ (scripts/build.mjs) when it is at least as new
// as every TypeScript source, otherwise the sources through tsx's loader (never a stale build).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['cli', 'core', 'manager', 'worker', 'lb', 'dns', 'cni'];

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function freshBundle(name) {
  try {
    const built = statSync(join(ROOT, 'dist', `${name}.mjs`)).mtimeMs;
    return SOURCE_DIRS.every((d) => newestSource(join(ROOT, d)) <= built);
  } catch {
    return false;
  }
}

export async function loadEntry(name) {
  if (process.env.MESHD_FROM_SOURCE !== '1' && freshBundle(name)) {
    await import(pathToFileURL(join(ROOT, 'dist', `${name}.mjs`)).href);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(ROOT, 'cli', `${name}.ts`)).href);
}
