/**
 * Split a compose `command:`/`entrypoint:` string into argv the way compose does (shell-words quoting,
 * no shell). Shell operators that only a shell would interpret are refused rather than silently
 * becoming arguments; `$VAR` is kept literally (no interpolation).
 */
import { type Conv, describe, fail, ok } from './issues.js';

const OPERATORS = new Set(['|', '&', ';', '<', '>', '(', ')', '`']);
const BLANK = new Set([' ', '\t', '\n', '\r']);
/** Characters a backslash escapes inside double quotes (POSIX). */
const DQ_ESCAPABLE = new Set(['\\', '"', '$', '`', '\n']);

type Quote = 'none' | 'single' | 'double';

export function splitShellWords(text: string): Conv<string[]> {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: Quote = 'none';
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (quote === 'single') {
      if (c === "'") quote = 'none';
      else word += c;
    } else if (quote === 'double') {
      if (c === '"') quote = 'none';
      else if (c === '\\' && DQ_ESCAPABLE.has(text.charAt(i + 1))) {
        if (text.charAt(i + 1) !== '\n') word += text.charAt(i + 1);
        i++;
      } else word += c;
    } else if (BLANK.has(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (OPERATORS.has(c)) {
      return fail(
        `contains the shell operator ${JSON.stringify(c)} in ${describe(text)}; meshd runs commands without a shell: quote it, or use a list like ["sh", "-c", "..."]`,
      );
    } else {
      inWord = true;
      if (c === "'") quote = 'single';
      else if (c === '"') quote = 'double';
      else if (c === '\\') {
        if (i + 1 >= text.length) return fail(`ends with an unfinished escape: ${describe(text)}`);
        if (text.charAt(i + 1) !== '\n') word += text.charAt(i + 1);
        else if (word === '') inWord = false;
        i++;
      } else word += c;
    }
  }
  if (quote !== 'none') return fail(`has an unterminated ${quote} quote: ${describe(text)}`);
  if (inWord) words.push(word);
  if (words.length === 0) return fail('must not be empty');
  return ok(words);
}
