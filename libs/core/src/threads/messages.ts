/**
 * What the worker threads of this core and their hosts say to each other: errors cross as plain
 * data and come back as the core's own error classes, so a cancel stays a cancel.
 */
import { extname, join } from 'node:path';
import { CancelledError, CoreError, ErrorCode, errorMessage } from '../errors';

export interface SerializedError {
  name: string;
  code?: ErrorCode;
  message: string;
  details?: unknown;
}

export function serializeError(err: unknown): SerializedError {
  return {
    name: err instanceof Error ? err.name : 'Error',
    code: err instanceof CoreError ? err.code : undefined,
    message: errorMessage(err),
    details: err instanceof CoreError ? err.details : undefined,
  };
}

/** The error a host rethrows for a worker's SerializedError; `what` names the work in messages. */
export function reviveError(e: SerializedError, what: string): Error {
  if (e.code === ErrorCode.CANCELLED) return new CancelledError(e.message);
  if (e.code) return new CoreError(e.code, e.message, e.details);
  return new CoreError(ErrorCode.INTERNAL, `${what} failed: ${e.message}`);
}

/** Posts `message`; if its details cannot be cloned, posts it again without them. */
export function postWithoutUncloneable<T extends { error?: SerializedError }>(
  post: (m: T) => void,
  message: T,
): void {
  try {
    post(message);
  } catch {
    post({ ...message, error: message.error && { ...message.error, details: undefined } });
  }
}

/**
 * A worker entry beside `dir`, and the exec arguments it needs: under Jest the sources are
 * TypeScript, so a `.ts` entry is started with ts-node's transpile-only hook; after `nest build`
 * it is plain JavaScript.
 */
export function workerFile(dir: string, base: string, ownFile: string): { file: string; execArgv: string[] } {
  const ext = extname(ownFile);
  const file = join(dir, `${base}${ext}`);
  if (ext === '.ts') return { file, execArgv: ['-r', require.resolve('ts-node/register/transpile-only')] };
  return { file, execArgv: [] };
}
