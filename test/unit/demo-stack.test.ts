import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from './stack-helpers.js';
import { DEMO_CLIENT, DEMO_IMAGES, DEMO_REGISTRY, DEMO_WEB } from '../../cli/commands/demo-images.js';

const text = readFileSync(resolve(import.meta.dirname, '..', '..', 'stack-examples', 'images.yml'), 'utf8');

describe("the demo's stack of images (stack-examples/images.yml)", () => {
  it('names only images, each one the demo builds and pushes to its registry', () => {
    const { spec, warnings } = parse(text, 'demo');
    expect(warnings).toEqual([]);
    const services = Object.values(spec.services);
    for (const s of services) expect({ command: s.command, entrypoint: s.entrypoint }).toEqual({ command: undefined, entrypoint: undefined });
    expect(services.map((s) => s.image).sort()).toEqual(DEMO_IMAGES.map((r) => `${DEMO_REGISTRY}/${r.tag}`).sort());
  });

  it('publishes the web port the image serves, and the web image carries its own health check', () => {
    const { spec } = parse(text, 'demo');
    expect(spec.services.web!.image).toBe(`${DEMO_REGISTRY}/${DEMO_WEB.tag}`);
    expect(spec.services.web!.ports).toEqual([expect.objectContaining({ published: 8080, target: 80 })]);
    expect(spec.services.web!.healthcheck).toBeUndefined();
    expect(DEMO_WEB.lines.some((l) => l.startsWith('HEALTHCHECK '))).toBe(true);
    expect(spec.services.client!.image).toBe(`${DEMO_REGISTRY}/${DEMO_CLIENT.tag}`);
  });
});
