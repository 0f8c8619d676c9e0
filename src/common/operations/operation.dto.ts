/** Request and response shapes shared by every suite's status, list and cancel routes. */
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { BACKEND_NAMES } from '../../../libs/core/src/types';
import { OPERATION_STATUSES, OperationStatus, OperationStatusView } from './operation.types';

/** The longest `timeout` a request may ask for: one day. */
export const MAX_TIMEOUT_S = 86_400;

/**
 * The `hardware` field of every suite's request: an optional, non-empty list of distinct backend
 * names (default `["cpu"]`); an unknown name is a 400.
 */
export function IsHardwareList(): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ enum: BACKEND_NAMES, isArray: true, default: ['cpu'] }),
    IsOptional(),
    IsArray(),
    ArrayNotEmpty(),
    ArrayUnique(),
    ArrayMaxSize(BACKEND_NAMES.length),
    IsIn(BACKEND_NAMES, { each: true }),
  );
}

/**
 * An optional list of distinct whole sizes from 1 to `max` (batch sizes, sequence lengths), at most
 * `maxItems` long.
 */
export function IsSizeList(max: number, maxItems: number, defaultSizes?: number[]): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({
      type: 'integer',
      isArray: true,
      minimum: 1,
      maximum: max,
      minItems: 1,
      maxItems,
      ...(defaultSizes ? { default: defaultSizes } : {}),
    }),
    IsOptional(),
    IsArray(),
    ArrayNotEmpty(),
    ArrayMaxSize(maxItems),
    ArrayUnique(),
    IsInt({ each: true }),
    Min(1, { each: true }),
    Max(max, { each: true }),
  );
}

/** The `timeout` field of every suite's request: whole seconds, 1 to MAX_TIMEOUT_S. */
export function IsTimeoutSeconds(defaultS: number): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_TIMEOUT_S, default: defaultS }),
    IsOptional(),
    IsInt(),
    Min(1),
    Max(MAX_TIMEOUT_S),
  );
}

export class OperationErrorDto {
  code: string;
  message: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  details?: unknown;
}

export class OperationStatusDto implements OperationStatusView {
  id: string;
  @ApiProperty({ enum: ['test', 'generator', 'benchmark'] })
  kind: 'test' | 'generator' | 'benchmark';
  @ApiProperty({ enum: OPERATION_STATUSES })
  status: OperationStatus;
  model_name: string;
  /** 0..1 */
  progress: number;
  @ApiProperty({ type: String, nullable: true })
  current_step: string | null;
  created_at: string;
  @ApiProperty({ type: String, nullable: true })
  started_at: string | null;
  @ApiProperty({ type: String, nullable: true })
  finished_at: string | null;
  @ApiProperty({ type: Number, nullable: true })
  elapsed_s: number | null;
  @ApiProperty({ type: Number, nullable: true })
  eta_s: number | null;
  /** How many times a worker started it (more than 1 after a retry). */
  attempts: number;
  error?: OperationErrorDto;
}

export class ListOperationsQueryDto {
  @IsOptional()
  @IsIn(OPERATION_STATUSES)
  status?: OperationStatus;

  @IsOptional()
  @IsString()
  @MaxLength(1024)
  model?: string;

  /** ISO 8601 instant: only operations created at or after it. */
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  /** The next_cursor of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor must be a next_cursor this server returned' })
  cursor?: string;
}

export class CancelResponseDto {
  cancelled: boolean;
  status: OperationStatusDto;
}

export class AcceptedDto {
  @ApiProperty({ enum: OPERATION_STATUSES })
  status: OperationStatus;
  message: string;
  /** When the operation was accepted (it starts when a worker is free). */
  started_at: string;
}
