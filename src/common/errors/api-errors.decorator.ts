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
    description: 'Field-level details (400: the fields and constraints that failed).',
    type: 'object',
    additionalProperties: true,
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

/** One response per status, each with the common error body. */
export function ApiErrors(...statuses: Array<keyof typeof WHY>): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) => ApiResponse({ status, description: WHY[status], type: ErrorBodyDto })),
  );
}
