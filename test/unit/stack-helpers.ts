import { ValidationError } from '../../core/errors.js';
import { parseStack } from '../../manager/stack/parse.js';

export const FILE = 'stack.yml';

export function parse(text: string, stackName = 'shop') {
  return parseStack(text, { file: FILE, stackName });
}

/** The problems a text is rejected with; fails the test when it parses. */
export function problemsOf(text: string, stackName = 'shop'): readonly string[] {
  try {
    parse(text, stackName);
  } catch (err) {
    if (err instanceof ValidationError) return err.problems;
    throw err;
  }
  throw new Error('expected a ValidationError, but the stack parsed');
}

