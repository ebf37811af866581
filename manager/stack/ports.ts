/** Published ports: the short compose syntax, ranges, and stack-wide conflicts. */
import type { PortSpec, Protocol, PublishMode } from '../../core/model.js';
import { type Conv, type PathSeg, type Problem, describe, fail, formatPath, ok, problemAt } from './issues.js';

/** One `ports:` entry before expansion: `count` consecutive ports from `target` (and `published`). */
export interface PortEntry {
  protocol: Protocol;
  mode: PublishMode;
  target: number;
  published?: number;
  count: number;
}

/** The most ports one stack may expand to (ranges included). */
export const MAX_STACK_PORTS = 10_000;

const RANGE = /^(\d{1,5})(?:-(\d{1,5}))?$/;

interface Range {
  start: number;
  count: number;
}

function parseRange(text: string, what: string): Conv<Range> {
  const m = RANGE.exec(text);
  const start = Number(m?.[1]);
  const end = m?.[2] === undefined ? start : Number(m[2]);
  if (!m || start < 1 || end > 65535) {
    return fail(`${what} port must be a number from 1 to 65535 (or a range like 8080-8081), got ${describe(text)}`);
  }
  if (end < start) return fail(`${what} port range ${text} ends before it starts`);
  return ok({ start, count: end - start + 1 });
}

/** A port number given as a string (long syntax `published: "8080"`). */
export function parsePortString(text: string): Conv<number> {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : 0;
  return n >= 1 && n <= 65535 ? ok(n) : fail(`must be a port number from 1 to 65535, got ${describe(text)}`);
}

function splitProtocol(text: string): Conv<{ spec: string; protocol: Protocol }> {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return ok({ spec: text, protocol: 'tcp' });
  const proto = text.slice(slash + 1);
  if (proto !== 'tcp' && proto !== 'udp') return fail(`protocol must be tcp or udp, got ${describe(proto)}`);
  return ok({ spec: text.slice(0, slash), protocol: proto });
}

/** `"80"`, `"8080:80"`, `"8080:80/udp"`, `"8080-8081:80-81"`; a host IP is refused. Always ingress mode. */
export function parseShortPort(text: string): Conv<PortEntry> {
  const split = splitProtocol(text);
  if (!split.ok) return split;
  const parts = split.value.spec.split(':');
  if (split.value.spec.startsWith('[') || parts.length > 2) {
    return fail(`binding to a host IP is not supported, got ${describe(text)}; use "published:target"`);
  }
  const target = parseRange(parts[parts.length - 1] ?? '', 'target');
  if (!target.ok) return target;
  const entry: PortEntry = { protocol: split.value.protocol, mode: 'ingress', target: target.value.start, count: target.value.count };
  const publishedText = parts.length === 2 ? (parts[0] ?? '') : '';
  if (publishedText === '') return ok(entry);
  const published = parseRange(publishedText, 'published');
  if (!published.ok) return published;
  if (published.value.count !== target.value.count) {
    return fail(`published range ${publishedText} and target range ${parts[1]} must be the same length`);
  }
  return ok({ ...entry, published: published.value.start });
}

export function expandPortEntry(entry: PortEntry): PortSpec[] {
  const out: PortSpec[] = [];
  for (let i = 0; i < entry.count; i++) {
    const port: PortSpec = { protocol: entry.protocol, target: entry.target + i, mode: entry.mode };
    if (entry.published !== undefined) port.published = entry.published + i;
    out.push(port);
  }
  return out;
}

/** A port entry and the key path it came from. */
export interface PortEntryAt {
  path: readonly PathSeg[];
  entry: PortEntry;
}

/** Two entries anywhere in the stack may not publish the same port and protocol. */
export function findPortConflicts(entries: readonly PortEntryAt[]): Problem[] {
  const firstUse = new Map<string, readonly PathSeg[]>();
  const problems: Problem[] = [];
  for (const { path, entry } of entries) {
    if (entry.published === undefined) continue;
    let reported = false;
    for (let i = 0; i < entry.count; i++) {
      const key = `${entry.published + i}/${entry.protocol}`;
      const other = firstUse.get(key);
      if (other === undefined) firstUse.set(key, path);
      else if (!reported) {
        problems.push(problemAt(path, `published port ${key} is also published by ${formatPath(other)}`));
        reported = true;
      }
    }
  }
  return problems;
}
