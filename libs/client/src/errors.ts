/** Typed errors by HTTP status, in the manner of openai-node's core/error.ts. */

/** The server's one error body: `{ statusCode, error, code, message, details? }`. */
export interface ErrorBody {
  statusCode?: number;
  error?: string;
  code?: string;
  message?: string | string[];
  details?: unknown;
}

export class ApiError extends Error {
  /** HTTP status, undefined when no response came back. */
  readonly status: number | undefined;
  /** The server's error code (VALIDATION, NOT_FOUND, UNKNOWN_MODEL, ...). */
  readonly code: string | undefined;
  /** Field-level details for validation errors, when the server gave them. */
  readonly details: unknown;
  /** The parsed (or raw text) response body. */
  readonly body: unknown;
  readonly headers: Headers | undefined;

  constructor(status: number | undefined, body: unknown, message: string | undefined, headers?: Headers) {
    super(ApiError.makeMessage(status, body, message));
    this.name = new.target.name;
    this.status = status;
    this.body = body;
    this.headers = headers;
    const b = (body && typeof body === 'object' ? body : {}) as ErrorBody;
    this.code = typeof b.code === 'string' ? b.code : undefined;
    this.details = b.details;
  }

  private static makeMessage(status: number | undefined, body: unknown, message: string | undefined): string {
    const b = (body && typeof body === 'object' ? body : {}) as ErrorBody;
    const text = Array.isArray(b.message) ? b.message.join('; ') : (b.message ?? message);
    if (status && text) return `${status} ${text}`;
    if (status) return `${status} status code (no body)`;
    return text ?? '(no status code or body)';
  }

  /** The subclass for a response status. */
  static generate(status: number, body: unknown, message: string | undefined, headers: Headers): ApiError {
    if (status === 400) return new BadRequestError(status, body, message, headers);
    if (status === 401) return new AuthenticationError(status, body, message, headers);
    if (status === 403) return new PermissionDeniedError(status, body, message, headers);
    if (status === 404) return new NotFoundError(status, body, message, headers);
    if (status === 409) return new ConflictError(status, body, message, headers);
    if (status === 413) return new PayloadTooLargeError(status, body, message, headers);
    if (status === 422) return new UnprocessableEntityError(status, body, message, headers);
    if (status === 429) return new RateLimitError(status, body, message, headers);
    if (status >= 500) return new InternalServerError(status, body, message, headers);
    return new ApiError(status, body, message, headers);
  }
}

export class BadRequestError extends ApiError {}
export class AuthenticationError extends ApiError {}
export class PermissionDeniedError extends ApiError {}
export class NotFoundError extends ApiError {}
export class ConflictError extends ApiError {}
export class PayloadTooLargeError extends ApiError {}
export class UnprocessableEntityError extends ApiError {}
export class RateLimitError extends ApiError {}
export class InternalServerError extends ApiError {}

/** No response: refused, reset, DNS, TLS, ... */
export class APIConnectionError extends ApiError {
  constructor(message = 'Connection error.', options?: { cause?: unknown }) {
    super(undefined, undefined, message);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** The per-request timeout elapsed. */
export class APITimeoutError extends APIConnectionError {
  constructor(message = 'Request timed out.') {
    super(message);
  }
}

/** The caller's AbortSignal fired. */
export class APIUserAbortError extends ApiError {
  constructor(message = 'Request was aborted.') {
    super(undefined, undefined, message);
  }
}
