/**
 * Keys the compose subset knows, level by level. Everything else (outside `x-` extensions) is reported
 * once, as `docker stack deploy` does: `Ignoring unsupported options: services.web.build, volumes`.
 * This is only a key inventory; types and values are checked by the zod schemas.
 */
import { type PathSeg, type Problem, formatPath, problemAt } from './issues.js';

interface KeyTree {
  /** Fixed keys of a mapping. */
  keys?: Readonly<Record<string, KeyTree>>;
  /** A mapping of user-chosen names, each value described by this tree. */
  each?: KeyTree;
  /** A list whose mapping items are described by this tree. */
  items?: KeyTree;
}

const LEAF: KeyTree = {};
const fixed = (...names: string[]): KeyTree => ({ keys: Object.fromEntries(names.map((n) => [n, LEAF])) });

const SERVICE: KeyTree = {
  keys: {
    image: LEAF,
    command: LEAF,
    entrypoint: LEAF,
    environment: { each: LEAF },
    deploy: {
      keys: {
        mode: LEAF,
        replicas: LEAF,
        endpoint_mode: LEAF,
        placement: fixed('constraints'),
        restart_policy: fixed('condition', 'delay', 'max_attempts'),
        resources: { keys: { limits: fixed('cpus', 'memory', 'pids'), reservations: fixed('cpus', 'memory') } },
        update_config: fixed('parallelism', 'delay', 'order', 'failure_action', 'monitor', 'max_failure_ratio'),
        rollback_config: fixed('parallelism', 'delay', 'order', 'failure_action', 'monitor', 'max_failure_ratio'),
      },
    },
    ports: { items: fixed('target', 'published', 'protocol', 'mode', 'host_ip') },
    networks: { each: fixed('aliases') },
    healthcheck: fixed('test', 'interval', 'timeout', 'retries', 'start_period', 'disable'),
    user: LEAF,
    stop_grace_period: LEAF,
    stop_signal: LEAF,
    init: LEAF,
    working_dir: LEAF,
    read_only: LEAF,
    tmpfs: LEAF,
    cap_add: LEAF,
    cap_drop: LEAF,
    sysctls: { each: LEAF },
    ulimits: { each: fixed('soft', 'hard') },
    extra_hosts: LEAF,
    labels: { each: LEAF },
    volumes: { items: { keys: { type: LEAF, source: LEAF, target: LEAF, read_only: LEAF, tmpfs: fixed('size') } } },
  },
};

const NETWORK: KeyTree = {
  keys: {
    driver: LEAF,
    attachable: LEAF,
    internal: LEAF,
    external: LEAF,
    ipam: { keys: { config: { items: fixed('subnet') } } },
  },
};

const VOLUME: KeyTree = fixed('driver', 'external', 'name');

const ROOT: KeyTree = { keys: { version: LEAF, services: { each: SERVICE }, networks: { each: NETWORK }, volumes: { each: VOLUME } } };

/** JS objects cannot safely hold this key; it is refused wherever the parser reads user names. */
const RESERVED_KEY = '__proto__';

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface KeyReport {
  /** Rendered paths of unsupported keys, sorted. */
  unsupported: string[];
  /** `__proto__` keys where names are read. */
  problems: Problem[];
}

export function inventoryKeys(root: unknown): KeyReport {
  const report: KeyReport = { unsupported: [], problems: [] };
  walk(root, ROOT, [], report);
  report.unsupported.sort();
  return report;
}

function walk(value: unknown, tree: KeyTree, path: PathSeg[], report: KeyReport): void {
  if (Array.isArray(value)) {
    if (tree.items) value.forEach((item, i) => walk(item, tree.items ?? LEAF, [...path, i], report));
    return;
  }
  if (!isMapping(value) || (!tree.keys && !tree.each)) return;
  for (const key of Object.keys(value)) {
    const at = [...path, key];
    if (key === RESERVED_KEY) {
      report.problems.push(problemAt(at, `${JSON.stringify(key)} is not allowed as a key`));
    } else if (tree.each) {
      walk(value[key], tree.each, at, report);
    } else if (tree.keys && Object.hasOwn(tree.keys, key)) {
      walk(value[key], tree.keys[key] ?? LEAF, at, report);
    } else if (!key.startsWith('x-')) {
      report.unsupported.push(formatPath(at));
    }
  }
}
