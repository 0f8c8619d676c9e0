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
  ValidateBy,
  ValidateIf,
} from 'class-validator';
import { BACKEND_NAMES, type BackendName } from '../../../libs/core/src/types';
import { MAX_OPERATION_S_LIMIT } from '../config/app-config';
import { OPERATION_STATUSES, OperationStatus, OperationStatusView } from './operation.types';

/**
 * The longest `timeout` a request may ask for: one day. The server's own maximum (MAX_OPERATION_S,
 * at most this) is checked before a request is stored.
 */
export const MAX_TIMEOUT_S = MAX_OPERATION_S_LIMIT;

/**
 * An optional request field: absent means the default, `null` is a 400 naming the field.
 * class-validator's `@IsOptional()` skips validation for `null` too, and class-transformer then
 * replaces the class default with that null, which reached the store and the cores. Use this on
 * every request (body) field instead; query DTOs keep `@IsOptional()` (a query string has no null).
 */
export function Optional(): PropertyDecorator {
  return applyDecorators(
    ValidateIf((_object: unknown, value: unknown) => value !== undefined),
    ValidateBy({
      name: 'isNotNull',
      validator: {
        validate: (value: unknown) => value !== null,
        defaultMessage: (args) =>
          `${args?.property ?? 'this field'} must not be null (leave it out for the default)`,
      },
    }),
  );
}

/**
 * The `hardware` field of every suite's request: an optional, non-empty list of distinct backend
 * names (default `["cpu"]`); an unknown name is a 400.
 */
export function IsHardwareList(): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ enum: BACKEND_NAMES, isArray: true, default: ['cpu'] }),
    Optional(),
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
    Optional(),
    IsArray(),
    ArrayNotEmpty(),
    ArrayMaxSize(maxItems),
    ArrayUnique(),
    IsInt({ each: true }),
    Min(1, { each: true }),
    Max(max, { each: true }),
  );
}

/**
 * The `timeout` field of every suite's request: whole seconds, 1 to MAX_TIMEOUT_S (and at most the
 * server's MAX_OPERATION_S, checked by AdmissionService). Absent: the suite's default, capped by
 * MAX_OPERATION_S. There is no "no deadline".
 */
export function IsTimeoutSeconds(defaultS: number): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_TIMEOUT_S, default: defaultS }),
    Optional(),
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

  /** Only operations whose request's `hardware` names this backend. */
  @IsOptional()
  @IsIn(BACKEND_NAMES)
  backend?: BackendName;

  /** Only operations tagged with it (benchmark runs carry tags). */
  @IsOptional()
  @IsString()
  @MaxLength(64)
  tag?: string;

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

/** One page of operations, newest first; `next_cursor` fetches the next (null on the last page). */
export class OperationListDto {
  items: OperationStatusDto[];
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
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
