import * as z from 'zod';
import type { Conv } from './issues.js';

/** Run a converter on a parsed value; its failure becomes a zod issue at the value's path. */
export function convert<S extends z.ZodType, O>(schema: S, fn: (v: z.output<S>) => Conv<O>) {
  return schema.transform((v, ctx): O => {
    const r = fn(v);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.message, input: v });
    return z.NEVER;
  });
}
