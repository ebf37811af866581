/**
 * One request to meshd over its unix socket (cni/protocol.ts): connect, write one JSON line, read
 * one JSON line, within a deadline. Failures say what went wrong in the transport; which CNI code
 * that becomes depends on the command (cni/plugin.ts).
 */
import { createConnection } from 'node:net';

/** How a call to meshd failed: nothing listening, no answer in time, hung up before answering, or an answer that is not one JSON line. */
export type MeshdCallFailure = 'unreachable' | 'timeout' | 'closed' | 'malformed';

export class MeshdCallError extends Error {
  readonly failure: MeshdCallFailure;
  constructor(failure: MeshdCallFailure, message: string) {
    super(message);
    this.name = 'MeshdCallError';
    this.failure = failure;
  }
}

/** meshd's answers are small (a result or an error): more than this is not an answer. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

export interface MeshdCall {
  socket: string;
  /** Sent as one JSON line. */
  request: unknown;
  /** The deadline for connecting, sending and the whole answer. */
  timeoutMs: number;
}

/** meshd's answer, parsed from its JSON line (shape unchecked: cni/meshd-answer.ts checks it). */
export function callMeshd({ socket, request, timeoutMs }: MeshdCall): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = createConnection({ path: socket });
    const chunks: Buffer[] = [];
    let received = 0;
    let connected = false;
    let settled = false;

    const finish = (outcome: { answer: unknown } | { error: MeshdCallError }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      if ('error' in outcome) reject(outcome.error);
      else resolve(outcome.answer);
    };
    const answerFrom = (text: string): void => {
      try {
        finish({ answer: JSON.parse(text) });
      } catch (err) {
        finish({ error: new MeshdCallError('malformed', `meshd's answer on ${socket} is not JSON: ${(err as Error).message}`) });
      }
    };

    const timer = setTimeout(() => {
      finish({ error: new MeshdCallError('timeout', `meshd did not answer on ${socket} within ${timeoutMs} ms`) });
    }, timeoutMs);

    conn.on('connect', () => {
      connected = true;
      conn.write(JSON.stringify(request) + '\n');
    });
    conn.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (chunk.includes(0x0a)) {
        const text = Buffer.concat(chunks).toString('utf8');
        answerFrom(text.slice(0, text.indexOf('\n')));
      } else if (received > MAX_ANSWER_BYTES) finish({ error: new MeshdCallError('malformed', `meshd's answer on ${socket} is longer than ${MAX_ANSWER_BYTES} bytes`) });
    });
    // An answer without its newline, then the end of the connection, is still an answer.
    conn.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() !== '') answerFrom(text);
      else finish({ error: new MeshdCallError('closed', `meshd closed the connection on ${socket} without answering`) });
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) finish({ error: new MeshdCallError('unreachable', `cannot connect to meshd's socket ${socket}: ${err.code ?? err.message}`) });
      else finish({ error: new MeshdCallError('closed', `the connection to meshd on ${socket} failed before an answer: ${err.code ?? err.message}`) });
    });
    conn.on('close', () => finish({ error: new MeshdCallError('closed', `meshd closed the connection on ${socket} without answering`) }));
  });
}
