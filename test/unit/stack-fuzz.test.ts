import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ValidationError } from '../../core/errors.js';
import { parseStack } from '../../manager/stack/parse.js';

const OPTS = { file: 'stack.yml', stackName: 'fuzz' };
const RUNS = { numRuns: 200 };

/** The property every input must satisfy: a spec, or a ValidationError with one-line problems. */
function parsesOrValidationError(text: string): void {
  try {
    parseStack(text, OPTS);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    expect(err.problems.length).toBeGreaterThan(0);
    for (const p of err.problems) expect(p.startsWith('stack.yml: ')).toBe(true);
  }
}

/** Fragments that steer random text towards YAML and stack-file shapes. */
const TOKENS = [
  'services:', 'networks:', 'deploy:', 'ports:', 'command:', 'environment:', 'healthcheck:', 'replicas:',
  'web:', 'x-a:', '__proto__:', 'constructor:', '<<:', '\n', '  ', '    ', '- ', '[', ']', '{', '}', ',', ': ', '?',
  '&a ', '*a', '"', "'", '!!binary ', '!!str ', '!foo ', '#', '---', '...', '|', '>', '8080:80', '80-81:90-91/udp',
  'node.role == manager', '10.0.0.0/24', '1h2m', 'null', '~', 'true', '-1', '1.5', '.inf', '0x10', 'a=b', '\t', '%YAML 1.2',
];
const yamlSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((parts) => parts.join(''));

/** A stack-shaped document with arbitrary JSON values where fields are expected. */
const anyValue = fc.jsonValue({ maxDepth: 3 });
const stackShaped = fc
  .record(
    {
      services: fc.dictionary(
        fc.oneof(fc.constantFrom('web', 'api', '_x', 'a b', '__proto__'), fc.string({ maxLength: 8 })),
        fc.oneof(
          anyValue,
          fc.record(
            {
              command: fc.oneof(anyValue, fc.string()),
              environment: anyValue,
              deploy: fc.oneof(anyValue, fc.record({ replicas: anyValue, mode: anyValue, restart_policy: anyValue }, { requiredKeys: [] })),
              ports: fc.oneof(anyValue, fc.array(fc.oneof(fc.string(), fc.integer(), anyValue), { maxLength: 4 })),
              networks: anyValue,
              healthcheck: anyValue,
            },
            { requiredKeys: [] },
          ),
        ),
        { maxKeys: 4 },
      ),
      networks: fc.oneof(anyValue, fc.dictionary(fc.string({ maxLength: 6 }), anyValue, { maxKeys: 3 })),
    },
    { requiredKeys: [] },
  )
  .map((doc) => stringify(doc));

describe('parseStack never fails with anything but ValidationError', () => {
  it('for arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), parsesOrValidationError), RUNS);
  });

  it('for arbitrary unicode text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), parsesOrValidationError), RUNS);
  });

  it('for YAML-like token soup', () => {
    fc.assert(fc.property(yamlSoup, parsesOrValidationError), RUNS);
  });

  it('for stack-shaped documents with arbitrary values', () => {
    fc.assert(fc.property(stackShaped, parsesOrValidationError), RUNS);
  });
});

// ---- valid stacks round-trip ----

const serviceName = fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,20}$/);
const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/).filter((n) => n !== '__proto__');
const envValue = fc.oneof(fc.string({ maxLength: 20 }), fc.integer().map(String), fc.constantFrom('', 'true', 'a=b', '$HOME'));
const argvWord = fc.string({ minLength: 1, maxLength: 12 });

interface GenPort {
  target: number;
  published?: number;
  protocol: 'tcp' | 'udp';
  mode: 'ingress' | 'host';
  short: boolean;
}

interface GenService {
  name: string;
  replicas: number;
  command: string[];
  env: Record<string, string>;
  envAsList: boolean;
  ports: GenPort[];
}

const genPort = fc.record({
  target: fc.integer({ min: 1, max: 65535 }),
  protocol: fc.constantFrom('tcp' as const, 'udp' as const),
  mode: fc.constantFrom('ingress' as const, 'host' as const),
  short: fc.boolean(),
  withPublished: fc.boolean(),
});

const genServices = fc
  .uniqueArray(
    fc.record({
      name: serviceName,
      replicas: fc.nat({ max: 50 }),
      command: fc.array(argvWord, { minLength: 1, maxLength: 4 }),
      env: fc.dictionary(envName, envValue, { maxKeys: 5 }),
      envAsList: fc.boolean(),
      ports: fc.array(genPort, { maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 5, selector: (s) => s.name },
  )
  .chain((services) => {
    const portCount = services.reduce((n, s) => n + s.ports.length, 0);
    // Published ports are unique across the stack (per protocol, but keeping them unique outright is simpler).
    return fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: portCount, maxLength: portCount }).map((published) => {
      let next = 0;
      return services.map((s): GenService => ({
        ...s,
        ports: s.ports.map(({ withPublished, ...p }) => {
          const port = published[next++];
          // host mode needs a published port; the short syntax is always ingress
          const mode = p.short ? 'ingress' : p.mode;
          return withPublished || mode === 'host' ? { ...p, mode, published: port } : { ...p, mode };
        }),
      }));
    });
  });

function portToYaml(p: GenPort): unknown {
  if (p.short) return `${p.published === undefined ? '' : `${p.published}:`}${p.target}/${p.protocol}`;
  return { target: p.target, protocol: p.protocol, mode: p.mode, ...(p.published !== undefined && { published: p.published }) };
}

function stackToYaml(services: GenService[]): string {
  const doc = {
    version: '3.8',
    services: Object.fromEntries(
      services.map((s) => [
        s.name,
        {
          command: s.command,
          environment: s.envAsList ? Object.entries(s.env).map(([k, v]) => `${k}=${v}`) : s.env,
          deploy: { replicas: s.replicas },
          ports: s.ports.map(portToYaml),
        },
      ]),
    ),
  };
  return stringify(doc);
}

describe('generated valid stacks round-trip into the spec', () => {
  it('keeps names, replicas, commands, environment and ports', () => {
    fc.assert(
      fc.property(genServices, (services) => {
        const { spec, warnings } = parseStack(stackToYaml(services), OPTS);
        expect(warnings).toEqual([]);
        expect(Object.keys(spec.services).sort()).toEqual(services.map((s) => s.name).sort());
        for (const s of services) {
          const got = spec.services[s.name];
          expect(got).toBeDefined();
          expect(got?.name).toBe(s.name);
          expect(got?.replicas).toBe(s.replicas);
          expect(got?.mode).toBe('replicated');
          expect(got?.command).toEqual(s.command);
          expect(got?.environment).toEqual(s.env);
          expect(got?.networks).toEqual([{ name: 'default', aliases: [] }]);
          expect(got?.ports).toEqual(
            s.ports.map((p) => ({ target: p.target, protocol: p.protocol, mode: p.mode, ...(p.published !== undefined && { published: p.published }) })),
          );
        }
        expect(Object.keys(spec.networks)).toEqual(['default']);
      }),
      RUNS,
    );
  });

  it('splits simple command strings into the same words', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9_./=:-]{1,10}$/);
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), (words) => {
        const { spec } = parseStack(stringify({ services: { a: { command: words.join(' ') } } }), OPTS);
        expect(spec.services.a?.command).toEqual(words);
      }),
      RUNS,
    );
  });
});
