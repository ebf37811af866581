/** Waits between pulls of an image that failed: 1 s doubling to 60 s, never a tight loop. */
export const PULL_RETRY_FIRST_MS = 1_000;
export const PULL_RETRY_MAX_MS = 60_000;

/** Delay before the next attempt after `failures` failed pulls in a row (1 -> 1 s, 2 -> 2 s, ...). */
export function pullRetryDelayMs(failures: number): number {
  return Math.min(PULL_RETRY_MAX_MS, PULL_RETRY_FIRST_MS * 2 ** Math.max(0, failures - 1));
}
