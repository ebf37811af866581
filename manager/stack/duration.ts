/** Compose durations: Go `time.ParseDuration` strings (`1h2m3s`, `500ms`, `1.5s`, `10us`) or whole seconds. */
import { type Conv, describe, fail, ok } from './issues.js';

const NS_PER: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** Go's limit: a duration is an int64 of nanoseconds. */
const MAX_NS = 2n ** 63n - 1n;
const MAX_TEXT = 64;
const PART = /(\d*)(?:\.(\d*))?([^\d.]*)/y;

/** A Go duration string -> nanoseconds (negative allowed, as in Go); undefined when malformed or out of range. */
export function parseGoDuration(text: string): bigint | undefined {
  if (text.length === 0 || text.length > MAX_TEXT) return undefined;
  let i = 0;
  const negative = text[0] === '-';
  if (text[0] === '-' || text[0] === '+') i = 1;
  if (text.slice(i) === '0') return 0n;
  if (i === text.length) return undefined;
  let total = 0n;
  PART.lastIndex = i;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text);
    if (m === null) return undefined;
    const [, whole = '', frac = '', unit = ''] = m;
    const per = NS_PER[unit];
    if ((whole === '' && frac === '') || per === undefined) return undefined;
    total += BigInt(whole || '0') * per;
    if (frac !== '') total += (BigInt(frac) * per) / 10n ** BigInt(frac.length);
    if (total > MAX_NS) return undefined;
  }
  return negative ? -total : total;
}

export interface DurationRule {
  /** Whether 0 is a meaningful value (a delay) or not (an interval). */
  allowZero: boolean;
}

const EXPECTED = 'a duration like "30s", "1m30s" or "500ms", or a whole number of seconds';

/** A compose duration (string or whole seconds) -> milliseconds, rounded up so nothing non-zero becomes 0. */
export function durationMs(value: string | number, rule: DurationRule): Conv<number> {
  let ns: bigint | undefined;
  if (typeof value === 'number') {
    ns = Number.isSafeInteger(value) ? BigInt(value) * NS_PER.s! : undefined;
    if (ns !== undefined && ns > MAX_NS) ns = undefined;
  } else {
    ns = parseGoDuration(value);
  }
  if (ns === undefined) return fail(`must be ${EXPECTED}, got ${describe(value)}`);
  if (ns < 0n) return fail(`must not be negative, got ${describe(value)}`);
  if (ns === 0n && !rule.allowZero) return fail(`must be greater than 0, got ${describe(value)}`);
  return ok(Number((ns + 999_999n) / 1_000_000n));
}
