import { open } from 'node:fs/promises';
import type { DevCluster } from './cluster.js';

/** The last lines of meshd logs, for error messages when a cluster fails to come up. */

const TAIL_BYTES = 8192;

/** Last `lines` lines of a file ('' when missing or empty). Reads only the end of big files. */
export async function tailFile(file: string, lines = 20): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const all = buf.toString('utf8').replace(/\s+$/, '');
    return all === '' ? '' : all.split('\n').slice(-lines).join('\n');
  } finally {
    await handle.close();
  }
}

/** "==> node-1 (path) <==" sections for every node whose meshd.log has anything in it. */
export async function clusterLogTails(cluster: DevCluster, lines = 20): Promise<string> {
  const sections: string[] = [];
  for (const node of cluster.nodes) {
    const tail = await tailFile(node.logFile, lines);
    if (tail !== '') sections.push(`==> ${node.hostname} (${node.logFile}) <==\n${tail}`);
  }
  return sections.join('\n');
}
