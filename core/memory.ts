import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './log.js';

/** V8's collector, reachable without `--expose-gc` on the command line. */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

/**
 * `kill -USR2 <meshd pid>` logs one `memory` line: heap in use after a full collection (so two
 * samples compare what is live, not what garbage waits), heap total and RSS, in KiB. The soak test
 * reads it at the start and the end of its churn.
 */
export function logMemoryOnSignal(log: Logger): void {
  const gc = collector();
  process.on('SIGUSR2', () => {
    gc?.();
    const m = process.memoryUsage();
    log.info('memory', { heapUsedKb: Math.round(m.heapUsed / 1024), heapTotalKb: Math.round(m.heapTotal / 1024), rssKb: Math.round(m.rss / 1024), collected: gc !== undefined });
  });
}
