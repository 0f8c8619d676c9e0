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
import {
  DEFAULT_CONFIDENCE,
  DEFAULT_STATISTIC,
  DEFAULT_THRESHOLD,
  ROUND_STATISTICS,
} from '../../../libs/core/src/benchmark/compare';
import type { RoundStatistic } from '../../../libs/core/src/benchmark/types';
import { DEFAULT_SETTINGS, MAX_ROUNDS } from '../../../libs/core/src/benchmark/runner';
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

  /**
   * The precision to measure: a registry id is generated (and cached) in it; a model file or generated
   * implementation must already be of it (a 422 names the precision it has). Left out: registry ids
   * run fp32 and files run as they are. Results report the precision that ran.
   */
  @ApiPropertyOptional({ enum: ['fp32', 'fp16'] })
  @Optional()
  @IsIn(['fp32', 'fp16'])
  precision?: 'fp32' | 'fp16';

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

  /**
   * Measurement rounds per configuration, interleaved across the run's configurations (ABBA order);
   * min_iterations, min_duration_s and max_duration_s are shared out over them. Comparisons use the
   * spread of the round medians, so more rounds give narrower intervals.
   */
  @ApiPropertyOptional({ default: DEFAULT_SETTINGS.rounds })
  @Optional()
  @IsInt()
  @Min(1)
  @Max(MAX_ROUNDS)
  rounds: number = DEFAULT_SETTINGS.rounds;

  /** Untimed runs before every round after the first. */
  @ApiPropertyOptional({ default: DEFAULT_SETTINGS.round_warmup_iterations })
  @Optional()
  @IsInt()
  @Min(0)
  @Max(10_000)
  round_warmup_iterations: number = DEFAULT_SETTINGS.round_warmup_iterations;

  /**
   * A fresh session for every round, so that session-level effects (memory placement, thread pools)
   * count in the between-round spread as they do between runs: wider, more honest intervals for
   * comparisons of separate runs, at the cost of one load per round.
   */
  @Optional()
  @IsBoolean()
  reload_each_round: boolean = false;

  /** Threshold of the verdicts (baseline comparison and paired ratios): a relative change, 0.05 = 5%. */
  @ApiPropertyOptional({ default: DEFAULT_THRESHOLD })
  @Optional()
  @IsNumber()
  @Min(0)
  @Max(10)
  threshold: number = DEFAULT_THRESHOLD;

  /** Confidence level of the ratio intervals. */
  @ApiPropertyOptional({ default: DEFAULT_CONFIDENCE })
  @Optional()
  @IsNumber()
  @Min(0.5)
  @Max(0.9999)
  confidence: number = DEFAULT_CONFIDENCE;

  /** The per-round value the verdicts compare: the round's median or its minimum latency. */
  @ApiPropertyOptional({ enum: ROUND_STATISTICS, default: DEFAULT_STATISTIC })
  @Optional()
  @IsIn(ROUND_STATISTICS)
  statistic: RoundStatistic = DEFAULT_STATISTIC;

  /**
   * Between-run noise for the comparison with `baseline_run_id` (a relative standard deviation of one
   * run beyond its rounds, 0.03 = 3%). Default: estimated from at least 10 earlier runs of the same
   * configuration, else 0.03; 0 trusts the rounds alone.
   */
  @Optional()
  @IsNumber()
  @Min(0)
  @Max(1)
  run_noise_cv?: number;

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

  /**
   * `latency` (default): one forward pass per iteration. `generate`: one `generate()` of
   * `max_new_tokens` tokens per iteration on a prompt of each sequence length (language models:
   * registry ids and generated folders), with TTFT, TPOT and tokens/s per configuration.
   */
  @ApiPropertyOptional({ enum: ['latency', 'generate'], default: 'latency' })
  @Optional()
  @IsIn(['latency', 'generate'])
  mode: 'latency' | 'generate' = 'latency';

  /** `generate` mode: new tokens per generation (default 32); prompt + new tokens must fit the context. */
  @Optional()
  @IsInt()
  @Min(1)
  @Max(8192)
  max_new_tokens?: number;

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
  @ApiPropertyOptional({ enum: ['json', 'csv', 'markdown', 'junit'] })
  @IsOptional()
  @IsIn(['json', 'csv', 'markdown', 'junit'])
  format?: 'json' | 'csv' | 'markdown' | 'junit';
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

  /**
   * Smallest relative change that counts (default 0.05 = 5%): `unchanged` needs the whole ratio
   * interval within [1 / (1 + threshold), 1 + threshold], `regressed` needs it wholly above 1 + threshold.
   */
  @IsOptional()
  @Type(() => Number)
  @IsNumber()
  @Min(0)
  @Max(10)
  threshold?: number;

  /** Two-sided confidence level of the ratio intervals (default 0.95). */
  @IsOptional()
  @Type(() => Number)
  @IsNumber()
  @Min(0.5)
  @Max(0.9999)
  confidence?: number;

  /** The per-round value compared: the round's median (default) or its minimum latency. */
  @ApiPropertyOptional({ enum: ROUND_STATISTICS })
  @IsOptional()
  @IsIn(ROUND_STATISTICS)
  statistic?: RoundStatistic;

  /**
   * Between-run noise of the two separate runs (a relative standard deviation of one run beyond its
   * rounds, 0.03 = 3%). Default: estimated from at least 10 earlier runs of the same configuration,
   * else 0.03; 0 trusts the rounds alone.
   */
  @IsOptional()
  @Type(() => Number)
  @IsNumber()
  @Min(0)
  @Max(1)
  run_noise_cv?: number;

  /** `json` (default), or the comparison as `markdown` or `junit` (regressed: failure; inconclusive: skipped). */
  @ApiPropertyOptional({ enum: ['json', 'markdown', 'junit'] })
  @IsOptional()
  @IsIn(['json', 'markdown', 'junit'])
  format?: 'json' | 'markdown' | 'junit';

  /** Deprecated: 1 - confidence (give one of the two). */
  @IsOptional()
  @Type(() => Number)
  @IsNumber()
  @Min(0.0001)
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
  /** The measurement settings with every default filled in (mode, max_new_tokens, rounds, ...). */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  settings?: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true, isArray: true })
  configurations: Record<string, unknown>[];
  @ApiProperty({ type: 'object', additionalProperties: true })
  definitions: Record<string, string>;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  comparison?: Record<string, unknown>;
  /** Paired ratios of configurations measured side by side in this run (several models or backends). */
  @ApiProperty({ type: 'object', additionalProperties: true, isArray: true })
  paired: Record<string, unknown>[];
  tags: string[];
  started_at: string;
  completed_at: string;
}

export class ComparisonDto {
  @ApiProperty({ enum: ['improved', 'regressed', 'unchanged', 'inconclusive'] })
  verdict: 'improved' | 'regressed' | 'unchanged' | 'inconclusive';
  /** Why the verdict is what it is. */
  reason: string;
  threshold: number;
  confidence: number;
  @ApiProperty({ enum: ROUND_STATISTICS })
  statistic: RoundStatistic;
  @ApiProperty({ type: 'object', additionalProperties: true, isArray: true })
  configurations: Record<string, unknown>[];
  @ApiProperty({ type: 'object', additionalProperties: true, isArray: true })
  unmatched: Record<string, unknown>[];
  baseline_run_id: string;
  candidate_run_id: string;
}
