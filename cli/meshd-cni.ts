// The meshd CNI plugin's process (bin/meshd-cni.js, installed as /opt/cni/bin/meshd): stdin and the
// environment in, one JSON document on stdout and the exit code out (cni/plugin.ts does the rest).
import { runCniPlugin } from '../cni/plugin.js';

async function readStdin(): Promise<string> {
  // A person running the plugin by hand at a terminal gives no configuration; a runtime always pipes one.
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const outcome = await runCniPlugin({ env: process.env, stdin: await readStdin() });
process.stdout.write(outcome.stdout);
process.exitCode = outcome.exitCode;
