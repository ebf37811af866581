/** Structured, leveled logging to stderr: one line per event, `key=value` fields. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function fmt(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

export function createLogger(opts: { level?: LogLevel; base?: Record<string, unknown> } = {}): Logger {
  const min = order[opts.level ?? ((process.env.MESHD_LOG_LEVEL as LogLevel | undefined) ?? 'info')] ?? 20;
  const base = opts.base ?? {};
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    const all = { ...base, ...fields };
    const kv = Object.entries(all).map(([k, v]) => `${k}=${fmt(v)}`).join(' ');
    process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} ${msg}${kv ? ' ' + kv : ''}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ level: opts.level, base: { ...base, ...fields } }),
  };
}
