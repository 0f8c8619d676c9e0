/** Benchmark Suite: requests, responses and mappers, in one file. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { DEFAULT_SETTINGS } from '../../../libs/core/src/benchmark/runner';
import { BACKEND_NAMES, BackendName } from '../../../libs/core/src/types';
import {
  IsHardwareList,
  IsSizeList,
  IsTimeoutSeconds,
  AcceptedDto,
  Optional,
} from '../../common/operations/operation.dto';

/** Seconds a benchmark may run when the request gives no `timeout` (capped by MAX_OPERATION_S). */
export const BENCHMARK_DEFAULT_TIMEOUT_S = 3600;

export class WarmupDto {
  /** Warm-up runs at least this many iterations. */
  @Optional()
  @IsInt()
  @Min(0)
  @Max(100_000)
  min_iterations?: number;

  /** Warm-up stops here even if the latencies are not steady yet. */
  @Optional()
  @IsInt()
  @Min(1)
  @Max(100_000)
  max_iterations?: number;

  /** Warm-up ends once the coefficient of variation of the last windows is at most this. */
  @Optional()
  @IsNumber()
  @Min(0.001)
  @Max(10)
  steady_cv?: number;
}

export class RunBenchmarkRequestDto {
  /** One model (a path inside DATA_DIR or MODEL_ROOTS, or a generated implementation). */
  @Optional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  model_name?: string;

  /** Several models in one run (instead of model_name). */
  @Optional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(16)
  @IsString({ each: true })
  @IsNotEmpty({ each: true })
  @MaxLength(1024, { each: true })
  models?: string[];

  @IsHardwareList()
  hardware: BackendName[] = ['cpu'];

  @IsSizeList(1024, 16, [1, 8])
  batch_sizes: number[] = [1, 8];

  /** Ignored for models without a sequence axis. */
  @IsSizeList(32_768, 16, [128])
  sequence_lengths: number[] = [128];

  @ApiPropertyOptional({ enum: ['fp32', 'fp16'], default: 'fp32' })
  @Optional()
  @IsIn(['fp32', 'fp16'])
  precision: 'fp32' | 'fp16' = 'fp32';

  @Optional()
  @IsObject()
  @ValidateNested()
  @Type(() => WarmupDto)
  warmup?: WarmupDto;

  /** Measured iterations at least; the core measures at most DEFAULT_SETTINGS.max_iterations (100,000). */
  @Optional()
  @IsInt()
  @Min(1)
  @Max(DEFAULT_SETTINGS.max_iterations)
  min_iterations: number = 10;

  @Optional()
  @IsNumber()
  @Min(0)
  @Max(3600)
  min_duration_s: number = 3;

  @Optional()
  @IsNumber()
  @Min(0.01)
  @Max(86_400)
  max_duration_s?: number;

  @Optional()
  @IsInt()
  @Min(0)
  @Max(2 ** 31 - 1)
  seed: number = 0;

  @ApiPropertyOptional({ type: [String], default: [] })
  @Optional()
  @IsArray()
  @ArrayMaxSize(32)
  @IsString({ each: true })
  @Matches(/^[\w.:@/+-]{1,64}$/, {
    each: true,
    message: 'tags are 1-64 characters of letters, digits and ._:@/+-',
  })
  tags: string[] = [];

  /** Compare with this earlier run when done. */
  @Optional()
  @IsUUID()
  baseline_run_id?: string;

  /** Also time text → tokenize → run, for models with a tokenizer. */
  @Optional()
  @IsBoolean()
  include_preprocessing: boolean = false;

  /** Seconds before the run is stopped with status `timeout`. */
  @IsTimeoutSeconds(BENCHMARK_DEFAULT_TIMEOUT_S)
  timeout?: number;
}

export class RunBenchmarkAcceptedDto extends AcceptedDto {
  run_id: string;
  /** How many configurations (model x backend x batch x sequence) will be measured. */
  configurations: number;
}

export class BenchmarkResultsQueryDto {
  @ApiPropertyOptional({ enum: ['json', 'csv', 'markdown'] })
  @IsOptional()
  @IsIn(['json', 'csv', 'markdown'])
  format?: 'json' | 'csv' | 'markdown';
}

export class BenchmarkRunsQueryDto {
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  model?: string;

  @IsOptional()
  @IsIn(BACKEND_NAMES)
  backend?: BackendName;

  @IsOptional()
  @IsString()
  @MaxLength(64)
  tag?: string;

  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

export class CompareQueryDto {
  @IsUUID()
  baseline: string;

  @IsUUID()
  candidate: string;

  /** Relative change of the median below which a configuration is `unchanged` (default 0.05). */
  @IsOptional()
  @Type(() => Number)
  @IsNumber()
  @Min(0)
  @Max(10)
  threshold?: number;

  /** Significance level of the Mann-Whitney U test (default 0.01). */
  @IsOptional()
  @Type(() => Number)
  @IsNumber()
  @Min(0.000001)
  @Max(0.5)
  alpha?: number;
}

export class BenchmarkRowDto {
  run_id: string;
  model: string;
  @ApiProperty({ type: String, nullable: true })
  model_cid: string | null;
  backend: string;
  batch_size: number;
  @ApiProperty({ type: Number, nullable: true })
  sequence_length: number | null;
  status: string;
  @ApiProperty({ type: Number, nullable: true })
  p50_ms: number | null;
  @ApiProperty({ type: Number, nullable: true })
  throughput: number | null;
  tags: string[];
  created_at: string;
}

export class BenchmarkRunsDto {
  items: BenchmarkRowDto[];
}

export class BenchmarkResultsDto {
  run_id: string;
  /** Median latency (ms) of the first measured configuration. */
  @ApiProperty({ type: Number, nullable: true })
  latency_ms: number | null;
  /** Throughput (items/s) of the first measured configuration. */
  @ApiProperty({ type: Number, nullable: true })
  throughput: number | null;
  @ApiProperty({ type: 'object', additionalProperties: true })
  environment: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true, isArray: true })
  configurations: Record<string, unknown>[];
  @ApiProperty({ type: 'object', additionalProperties: true })
  definitions: Record<string, string>;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  comparison?: Record<string, unknown>;
  tags: string[];
  started_at: string;
  completed_at: string;
}

export class ComparisonDto {
  @ApiProperty({ enum: ['improved', 'regressed', 'unchanged'] })
  verdict: 'improved' | 'regressed' | 'unchanged';
  threshold: number;
  alpha: number;
  @ApiProperty({ type: 'object', additionalProperties: true, isArray: true })
  configurations: Record<string, unknown>[];
  @ApiProperty({ type: 'object', additionalProperties: true, isArray: true })
  unmatched: Record<string, unknown>[];
  baseline_run_id: string;
  candidate_run_id: string;
}
