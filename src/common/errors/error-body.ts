import { ErrorCode } from '../../../libs/core/src/errors';

/** The one error body of DESIGN. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  code: string;
  message: string;
  details?: unknown;
}

/** Domain codes to HTTP statuses, in one place. */
export const STATUS_OF: Record<ErrorCode, number> = {
  [ErrorCode.VALIDATION]: 400,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.NOT_FINISHED]: 409,
  [ErrorCode.CONFLICT]: 409,
  [ErrorCode.UNKNOWN_MODEL]: 422,
  [ErrorCode.MODEL_NOT_FOUND]: 422,
  [ErrorCode.PATH_OUTSIDE_ROOTS]: 422,
  [ErrorCode.BACKEND_UNAVAILABLE]: 422,
  [ErrorCode.INVALID_MODEL]: 422,
  [ErrorCode.UNPROCESSABLE]: 422,
  [ErrorCode.BUDGET_EXCEEDED]: 422,
  [ErrorCode.CANCELLED]: 409,
  [ErrorCode.TIMEOUT]: 409,
  [ErrorCode.INTERRUPTED]: 409,
  [ErrorCode.QUEUE_UNAVAILABLE]: 503,
  [ErrorCode.QUEUE_FULL]: 429,
  [ErrorCode.STORE_UNAVAILABLE]: 503,
  [ErrorCode.INTERNAL]: 500,
};

export const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export const HTTP_CODE: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE',
  429: 'TOO_MANY_REQUESTS',
  431: 'HEADERS_TOO_LARGE',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export function errorBody(statusCode: number, message: string, code?: string, details?: unknown): ErrorBody {
  return {
    statusCode,
    error: REASON[statusCode] ?? 'Error',
    code: code ?? HTTP_CODE[statusCode] ?? 'ERROR',
    message,
    ...(details !== undefined ? { details } : {}),
  };
}
