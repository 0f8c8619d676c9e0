/** The error answers an operation can give, documented in OpenAPI with the one error body of DESIGN. */
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';

export class ErrorBodyDto {
  @ApiProperty({ example: 422 })
  statusCode: number;
  @ApiProperty({ example: 'Unprocessable Entity' })
  error: string;
  @ApiProperty({
    description: 'A stable machine-readable code (VALIDATION, NOT_FOUND, ...).',
    example: 'UNKNOWN_MODEL',
  })
  code: string;
  @ApiProperty({
    example: 'unknown model "bert-base-uncasd": not a registry id nor a path inside DATA_DIR or MODEL_ROOTS',
  })
  message: string;
  @ApiPropertyOptional({
    description:
      'More about the error: 400, the failed constraints, one per field; 422 and 503, an object (the backends, the operation stored, ...).',
    oneOf: [
      { type: 'object', additionalProperties: true },
      { type: 'array', items: { type: 'string' } },
    ],
  })
  details?: unknown;
}

const WHY: Record<number, string> = {
  400: 'Validation failed: `details` names the fields (a field sent as null included).',
  401: 'API_KEY is set and the X-API-Key header is missing or wrong.',
  404: 'No operation with this id (or no baseline run with that id).',
  409: 'Not finished yet (results), or the output folder already exists (generation).',
  413: 'The body is too large or too complex.',
  422: 'Valid but cannot be done: unknown model, path outside the allowed roots, backend unavailable, over a budget.',
  429: 'The queue is at its maximum depth: retry after the Retry-After header.',
  503: 'The store or the queue (PostgreSQL, Redis) is down or does not answer within its timeout.',
};

/** What the server answers with each status (the example of each documented error response). */
export const ERROR_EXAMPLES: Record<keyof typeof WHY, ErrorBodyDto> = {
  400: {
    statusCode: 400,
    error: 'Bad Request',
    code: 'VALIDATION',
    message: 'hardware should not be empty',
    details: ['hardware should not be empty'],
  },
  401: {
    statusCode: 401,
    error: 'Unauthorized',
    code: 'UNAUTHORIZED',
    message: 'missing or invalid API key (X-API-Key header)',
  },
  404: {
    statusCode: 404,
    error: 'Not Found',
    code: 'NOT_FOUND',
    message: 'no test operation with id 0197a3c2-5b1e-7c4d-9a2b-3f4e5d6c7b8a',
  },
  409: {
    statusCode: 409,
    error: 'Conflict',
    code: 'NOT_FINISHED',
    message: 'test operation 0197a3c2-5b1e-7c4d-9a2b-3f4e5d6c7b8a is running; results are not ready',
    details: { status: 'running', progress: 0.4 },
  },
  413: {
    statusCode: 413,
    error: 'Payload Too Large',
    code: 'PAYLOAD_TOO_LARGE',
    message: 'request body is larger than the limit',
  },
  422: {
    statusCode: 422,
    error: 'Unprocessable Entity',
    code: 'UNKNOWN_MODEL',
    message: 'unknown model "bert-base-uncasd": not a registry id nor a path inside DATA_DIR or MODEL_ROOTS',
  },
  429: {
    statusCode: 429,
    error: 'Too Many Requests',
    code: 'QUEUE_FULL',
    message: 'the test queue is full (1000 waiting, QUEUE_MAX_DEPTH 1000); retry in about 5 s',
    details: { queue: 'test', waiting: 1000, max_depth: 1000, retry_after_s: 5 },
  },
  503: {
    statusCode: 503,
    error: 'Service Unavailable',
    code: 'STORE_UNAVAILABLE',
    message: 'the store is unavailable: connect ECONNREFUSED 127.0.0.1:5432',
  },
};

/** One response per status, each with the common error body and an example of it. */
export function ApiErrors(...statuses: Array<keyof typeof WHY>): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({ status, description: WHY[status], type: ErrorBodyDto, example: ERROR_EXAMPLES[status] }),
    ),
  );
}
