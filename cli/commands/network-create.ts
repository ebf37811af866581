import { parseArgs } from 'node:util';
import { ValidationError } from '../../core/errors.js';
import { SUBJECTS } from '../../core/names.js';
import { request } from '../../core/rpc.js';
import type { CommandContext } from './context.js';

/** `meshctl network create [--attachable] [--internal] [--subnet CIDR] [-d overlay] NAME`: prints the id, as Docker does. */
export async function networkCreate(ctx: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { attachable: { type: 'boolean' }, internal: { type: 'boolean' }, subnet: { type: 'string' }, driver: { type: 'string', short: 'd' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new ValidationError(['network create: exactly one NAME argument is required']);
  if (values.driver !== undefined && values.driver !== 'overlay') throw new ValidationError([`--driver: only overlay networks are supported, got ${JSON.stringify(values.driver)}`]);
  const req = { name: positionals[0]!, internal: values.internal ?? false, attachable: values.attachable ?? false, ...(values.subnet !== undefined && { subnet: values.subnet }) };
  const created = await request<{ id: string }>(ctx.nc, SUBJECTS.api('network.create'), req);
  ctx.out(`${created.id}\n`);
  return 0;
}

/** `meshctl network rm NET...`: a network of its own that no service and no container uses. */
export async function networkRm(ctx: CommandContext, args: string[]): Promise<number> {
  if (args.length === 0) throw new ValidationError(['network rm: NETWORK argument is required']);
  for (const network of args) ctx.out(`${await request<string>(ctx.nc, SUBJECTS.api('network.rm'), { network })}\n`);
  return 0;
}
