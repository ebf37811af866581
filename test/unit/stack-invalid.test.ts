import { describe, expect, it } from 'vitest';
import { MAX_FILE_BYTES } from '../../manager/stack/parse.js';
import { FILE, problemsOf } from './stack-helpers.js';

import { INVALID } from '../corpus/invalid-stacks.js';

describe('parseStack: invalid stacks', () => {
  it('covers at least 40 cases', () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(40);
  });

  it.each(INVALID)('%s', (_label, text, problems) => {
    expect(problemsOf(text)).toEqual(problems);
  });

  it('refuses a file over 1 MiB without parsing it', () => {
    const text = `services: {a: {command: x}}\n#${'x'.repeat(MAX_FILE_BYTES)}\n`;
    const bytes = Buffer.byteLength(text);
    expect(problemsOf(text)).toEqual([`${FILE}: file is ${bytes} bytes; the limit is 1048576`]);
  });

  it('refuses an alias bomb', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    expect(problemsOf(`${lines.join('\n')}\nservices: {a: {command: x}}\n`)).toEqual([
      `${FILE}: cannot read the YAML: Excessive alias count indicates a resource exhaustion attack`,
    ]);
  });

  it('refuses deep nesting with a bounded number of YAML problems', () => {
    const problems = problemsOf(`services: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`);
    expect(problems.length).toBeLessThanOrEqual(11);
    expect(problems[0]).toMatch(/^stack\.yml: line 1, column \d+: /);
  });

  it.each([
    ['my stack', `${FILE}: stack name: must match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$, got "my stack"`],
    ['', `${FILE}: stack name: must match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$, got ""`],
    ['s'.repeat(41), `${FILE}: stack name: must be at most 40 characters, got 41`],
  ])('refuses the stack name %j', (stackName, problem) => {
    expect(problemsOf('services: {a: {command: x}}\n', stackName)).toEqual([problem]);
  });

  it('collects problems from every service and network, not just the first', () => {
    const text = [
      'services:',
      '  a: {command: 3}',
      '  b: {command: x, deploy: {replicas: -1}}',
      '  c: {command: x, ports: ["8080:80"]}',
      '  d: {command: x, ports: ["8080:80"], networks: [missing]}',
      'networks:',
      '  n: {driver: macvlan}',
      '',
    ].join('\n');
    expect(problemsOf(text, 'bad name')).toEqual([
      `${FILE}: stack name: must match ^[a-zA-Z0-9][a-zA-Z0-9_-]*$, got "bad name"`,
      `${FILE}: services.a.command: must be a string or a list of strings, got 3`,
      `${FILE}: services.b.deploy.replicas: must be an integer >= 0, got -1`,
      `${FILE}: services.d.networks[0]: network "missing" is not declared in the top-level networks`,
      `${FILE}: services.d.ports[0]: published port 8080/tcp is also published by services.c.ports[0]`,
      `${FILE}: networks.n.driver: only the overlay driver is supported, got "macvlan"`,
    ]);
  });

  it('puts every problem on one line starting with the file name', () => {
    for (const [, text] of INVALID) {
      for (const p of problemsOf(text)) expect(p).toMatch(/^stack\.yml: \S[^\n]*$/);
    }
  });
});
