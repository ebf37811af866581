/** One error class per failure mode; each carries what an operator needs to act on it. */

export class MeshError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An external command exited non-zero (or could not start). */
export class CommandError extends MeshError {
  readonly argv: readonly string[];
  readonly netns: string | undefined;
  readonly exitCode: number | undefined;
  readonly stderr: string;
  constructor(opts: { argv: readonly string[]; netns?: string; exitCode?: number; stderr: string; cause?: unknown }) {
    const where = opts.netns ? ` in netns ${opts.netns}` : '';
    const code = opts.exitCode === undefined ? 'failed to start' : `exited ${opts.exitCode}`;
    super(`${opts.argv.join(' ')}${where} ${code}: ${opts.stderr.trim()}`, { cause: opts.cause });
    this.argv = opts.argv;
    this.netns = opts.netns;
    this.exitCode = opts.exitCode;
    this.stderr = opts.stderr;
  }
}

/** User input (stack file, CLI arguments) is invalid. `problems` each name the key path. */
export class ValidationError extends MeshError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** A request conflicts with cluster state (port in use, subnet overlap, name taken). */
export class ConflictError extends MeshError {}

/** Credentials or a join token were refused (or are missing). */
export class AuthError extends MeshError {}

/** Something named does not exist (service, network, node, task). */
export class NotFoundError extends MeshError {}

/** A pool (subnets, VNIs, fwmarks, addresses, ports) has nothing left. */
export class ExhaustedError extends MeshError {}

/** A compare-and-swap lost against a concurrent writer; callers retry. */
export class CasConflictError extends MeshError {}

/** Wire form of an error sent back over a NATS request. */
export interface WireError {
  name: string;
  message: string;
  problems?: readonly string[];
}

export function toWireError(err: unknown): WireError {
  if (err instanceof ValidationError) return { name: err.name, message: err.message, problems: err.problems };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

export function fromWireError(w: WireError): MeshError {
  switch (w.name) {
    case 'ValidationError':
      return new ValidationError(w.problems ?? [w.message]);
    case 'ConflictError':
      return new ConflictError(w.message);
    case 'AuthError':
      return new AuthError(w.message);
    case 'NotFoundError':
      return new NotFoundError(w.message);
    case 'ExhaustedError':
      return new ExhaustedError(w.message);
    default:
      return new MeshError(w.message);
  }
}
