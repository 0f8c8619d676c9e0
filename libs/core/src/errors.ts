/**
 * Domain errors: a code and a message, no HTTP. The Nest layer maps codes to statuses once.
 */
export enum ErrorCode {
  VALIDATION = 'VALIDATION',
  NOT_FOUND = 'NOT_FOUND',
  NOT_FINISHED = 'NOT_FINISHED',
  CONFLICT = 'CONFLICT',
  UNKNOWN_MODEL = 'UNKNOWN_MODEL',
  MODEL_NOT_FOUND = 'MODEL_NOT_FOUND',
  PATH_OUTSIDE_ROOTS = 'PATH_OUTSIDE_ROOTS',
  BACKEND_UNAVAILABLE = 'BACKEND_UNAVAILABLE',
  INVALID_MODEL = 'INVALID_MODEL',
  UNPROCESSABLE = 'UNPROCESSABLE',
  /** A valid request whose estimated memory, disk or duration exceeds a configured budget. */
  BUDGET_EXCEEDED = 'BUDGET_EXCEEDED',
  CANCELLED = 'CANCELLED',
  TIMEOUT = 'TIMEOUT',
  INTERRUPTED = 'INTERRUPTED',
  QUEUE_UNAVAILABLE = 'QUEUE_UNAVAILABLE',
  /** The queue holds its maximum of waiting jobs: retry later (429 with Retry-After). */
  QUEUE_FULL = 'QUEUE_FULL',
  STORE_UNAVAILABLE = 'STORE_UNAVAILABLE',
  INTERNAL = 'INTERNAL',
}

export class CoreError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'CoreError';
  }
}

/** Thrown by cores when their AbortSignal fires. */
export class CancelledError extends CoreError {
  constructor(message = 'operation cancelled') {
    super(ErrorCode.CANCELLED, message);
    this.name = 'CancelledError';
  }
}

/** Throws CancelledError (or the signal's reason when it is a CoreError) if the signal fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof CoreError) throw reason;
  throw new CancelledError();
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
