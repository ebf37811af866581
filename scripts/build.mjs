// Bundles meshd and meshctl (TypeScript) into dist/*.mjs with esbuild: one file each, so a
// command starts without the TypeScript loader (4x faster here, 14x under an emulated CPU).
// bin/*.js run the bundle when it is at least as new as every source file, else the sources.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'cli', 'meshd.ts'), join(root, 'cli', 'meshctl.ts')],
  outdir: join(root, 'dist'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __meshdRequire } from 'node:module'; const require = __meshdRequire(import.meta.url);" },
  logLevel: 'warning',
});
