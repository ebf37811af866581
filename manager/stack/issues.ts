/**
 * Problems found in a stack file, and the mapping from zod issues to them.
 * Every problem renders as `<file>: <where>: <what is wrong>` (or `<file>: <what>` for file-level ones).
 */
import type * as z from 'zod';

export type PathSeg = string | number;

export interface Problem {
  /** A rendered key path (`services.web.ports[1]`), another locator (`line 3, column 5`), or null for the whole file. */
  at: string | null;
  message: string;
}

/** The outcome of converting one value: a value, or the reason it is wrong. */
export type Conv<T> = { ok: true; value: T } | { ok: false; message: string };

export const ok = <T>(value: T): Conv<T> => ({ ok: true, value });
export const fail = <T = never>(message: string): Conv<T> => ({ ok: false, message });

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `['services', 'web', 'ports', 1]` -> `services.web.ports[1]`; odd keys are JSON-quoted. */
export function formatPath(path: readonly PathSeg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') {
      out += `[${seg}]`;
      continue;
    }
    const key = PLAIN_KEY.test(seg) ? seg : JSON.stringify(seg);
    out += out === '' ? key : `.${key}`;
  }
  return out;
}

export function problemAt(path: readonly PathSeg[], message: string): Problem {
  return { at: formatPath(path), message };
}

export function renderProblem(file: string, p: Problem): string {
  return p.at === null ? `${file}: ${p.message}` : `${file}: ${p.at}: ${p.message}`;
}

const MAX_SHOWN = 60;

/** How a value reads in a message: strings quoted (and cut short), collections by kind. */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN - 3)}...` : value);
  }
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** A schema-level error function: `required` when absent, else `must be <what>, got <value>`. */
export function expect(what: string): (iss: { input?: unknown }) => string {
  return (iss) => (iss.input === undefined ? 'required' : `must be ${what}, got ${describe(iss.input)}`);
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  null: 'null',
};

/** The per-parse fallback for issues whose schema carries no message of its own. */
export const errorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type':
      return expect(TYPE_NAMES[iss.expected] ?? iss.expected)(iss);
    case 'invalid_value':
      return `must be one of ${iss.values.map(String).join(', ')}, got ${describe(iss.input)}`;
    case 'too_small':
      return iss.origin === 'array' ? 'must not be empty' : `must be >= ${String(iss.minimum)}, got ${describe(iss.input)}`;
    case 'too_big':
      return iss.origin === 'array' ? `must have at most ${String(iss.maximum)} entries` : `must be <= ${String(iss.maximum)}, got ${describe(iss.input)}`;
    default:
      return `is not valid, got ${describe(iss.input)}`;
  }
};

function isRootTypeMismatch(iss: z.core.$ZodIssue): boolean {
  return iss.code === 'invalid_type' && iss.path.length === 0;
}

/**
 * Zod issues -> problems under `base`. For a union that failed, the branch matching the value's
 * kind (the only one not rejecting it outright) explains the failure; otherwise the union's own message does.
 */
export function zodProblems(issues: readonly z.core.$ZodIssue[], base: readonly PathSeg[]): Problem[] {
  const out: Problem[] = [];
  for (const iss of issues) {
    const path = [...base, ...iss.path.map((seg) => (typeof seg === 'symbol' ? String(seg) : seg))];
    if (iss.code === 'invalid_union') {
      const viable = iss.errors.filter((branch) => !branch.every(isRootTypeMismatch));
      if (viable.length === 1 && viable[0]) {
        out.push(...zodProblems(viable[0], path));
        continue;
      }
    }
    out.push(problemAt(path, iss.message));
  }
  return out;
}
