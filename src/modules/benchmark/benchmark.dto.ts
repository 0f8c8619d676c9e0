/** Benchmark Suite: requests, responses and mappers, in one file. */
import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
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
import { GENERATED_PRECISIONS, type GeneratedPrecision } from '../../../libs/core/src/models/precision';
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
  @ApiPropertyOptional({ enum: GENERATED_PRECISIONS })
  @Optional()
  @IsIn(GENERATED_PRECISIONS)
  precision?: GeneratedPrecision;

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

/** 95% confidence interval of the median by order statistics. */
export class MedianCiDto {
  /** Value at the lower rank (ms). */
  lower: number;
  /** Value at the upper rank (ms). */
  upper: number;
  /** 1-based rank of the lower order statistic. */
  lower_rank: number;
  /** 1-based rank of the upper order statistic. */
  upper_rank: number;
  /** Exact coverage of the interval. */
  confidence: number;
}

/** Statistics of one sample of latencies (ms). */
export class SampleStatsDto {
  count: number;
  mean: number;
  /** Median (type-7 percentile at 0.5). */
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  /** Sample standard deviation (n - 1). */
  stdev: number;
  /** stdev / mean, a fraction. */
  cv: number;
  /** stdev / mean * 100. */
  cv_percent: number;
  /** Sum of all samples. */
  total: number;
  median_ci95: MedianCiDto;
}

/** One measurement round of a configuration. */
export class RoundSummaryDto {
  /** 0-based round number. */
  round: number;
  /** Measured iterations in this round. */
  count: number;
  /** Median latency of the round (ms). */
  median_ms: number;
  /** Smallest latency of the round (ms). */
  min_ms: number;
}

/** Text in, outputs out: tokenize then run, timed together (`include_preprocessing`). */
export class PreprocessingResultDto {
  /** encode(texts) then run(feeds), per iteration (ms). */
  pipeline: SampleStatsDto;
  /** The encode (tokenize) part alone of the same iterations (ms). */
  tokenize: SampleStatsDto;
  /** batch_size / pipeline median (items/s). */
  throughput_items_per_sec: number;
  /** Per-iteration pipeline latencies (ms). */
  latencies_ms: number[];
  /** Words each generated sentence had before the tokenizer truncated it. */
  words_per_sentence: number;
}

export class TokensPerSecondDto {
  /** batch_size * 1000 / mean TPOT: new tokens per second after the first. */
  decode: number;
  /** batch_size * max_new_tokens * 1000 / mean end-to-end: new tokens per second, first token included. */
  total: number;
}

/** The figures of a `generate`-mode configuration. */
export class GenerationFiguresDto {
  max_new_tokens: number;
  /** Prompt tokens per row (the configuration's sequence length). */
  prompt_length: number;
  /** Time to first token (generate() start to the first new token), one per measured generation (ms). */
  ttft_ms: SampleStatsDto;
  /** Time per output token: every later step of every measured generation (ms). */
  tpot_ms: SampleStatsDto;
  /** Whole generate() calls (ms); the configuration's stats. */
  e2e_ms: SampleStatsDto;
  tokens_per_s: TokensPerSecondDto;
}

/** One configuration (model x backend x batch x sequence) of a run and what was measured. */
export class ConfigurationResultDto {
  /** 0-based position in the run. */
  index: number;
  /** `model/backend/b<batch>[/s<seq>]`. */
  label: string;
  model: string;
  /** Content id of the model that ran (comparisons match configurations by it). */
  @ApiPropertyOptional({ type: String, nullable: true })
  model_id?: string | null;
  @ApiProperty({ enum: BACKEND_NAMES })
  backend: BackendName;
  batch_size: number;
  @ApiProperty({ type: Number, nullable: true })
  sequence_length: number | null;
  precision: string;
  /**
   * The graph flavour that ran: `portable`, `optimized` (the generator's fused graph), or `unknown`
   * for a graph the generator did not build.
   */
  graph: string;
  /** `ok` (measured), `skipped` (backend unavailable) or `failed`. */
  @ApiProperty({ enum: ['ok', 'skipped', 'failed'] })
  status: 'ok' | 'skipped' | 'failed';
  /** Why skipped or failed. */
  reason?: string;
  @ApiProperty({ type: String, nullable: true })
  execution_provider: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  device: Record<string, unknown> | null;
  /** Session creation (ms). */
  @ApiProperty({ type: Number, nullable: true })
  load_ms: number | null;
  /** The first run after load (ms). */
  @ApiProperty({ type: Number, nullable: true })
  first_inference_ms: number | null;
  warmup_iterations: number;
  /** Whether warm-up ended because the windows were steady (false: a cap ended it). */
  warmup_steady: boolean;
  /** The windowed CV when warm-up ended. */
  @ApiProperty({ type: Number, nullable: true })
  warmup_cv: number | null;
  /** Wall-clock length of the measurement phase (s). */
  @ApiProperty({ type: Number, nullable: true })
  measure_duration_s: number | null;
  /** Statistics of latencies_ms (ms); null unless ok. */
  @ApiProperty({ type: () => SampleStatsDto, nullable: true })
  stats: SampleStatsDto | null;
  /** batch_size / median latency (items/s). */
  @ApiProperty({ type: Number, nullable: true })
  throughput_items_per_sec: number | null;
  /** batch_size * count / wall-clock measurement time (items/s). */
  @ApiProperty({ type: Number, nullable: true })
  throughput_wall_items_per_sec: number | null;
  /** Largest RSS sampled from before load to after measurement (MiB). */
  @ApiProperty({ type: Number, nullable: true })
  peak_rss_mb: number | null;
  /** RSS after measurement minus RSS before load (MiB). */
  @ApiProperty({ type: Number, nullable: true })
  rss_growth_mb: number | null;
  /** Per-iteration latencies (ms), all rounds one after another. */
  latencies_ms: number[];
  rounds: RoundSummaryDto[];
  /** rounds[].median_ms, the replicates comparisons use. */
  round_medians_ms: number[];
  /** Coefficient of variation of the round medians (null with fewer than 2 rounds). */
  @ApiProperty({ type: Number, nullable: true })
  noise_cv: number | null;
  preprocessing?: PreprocessingResultDto;
  /** `generate` mode: time to first token, time per output token, end to end and tokens/s. */
  generation?: GenerationFiguresDto;
  /** `generate` mode: mean time of the n-th new token over the measured generations (ms; [0] = TTFT). */
  per_token_ms?: number[];
}

/** A backend as the run saw it. */
export class EnvironmentBackendDto {
  available: boolean;
  execution_provider: string;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  device: Record<string, unknown> | null;
  reason?: string;
}

/** The machine and software every result of the run was measured on. */
export class EnvironmentDto {
  cpu_model: string;
  cpu_cores: number;
  total_memory_mb: number;
  os: string;
  platform: string;
  os_release: string;
  arch: string;
  node_version: string;
  onnxruntime_version: string;
  hostname: string;
  /** HEAD commit of the repository, when there is one. */
  @ApiProperty({ type: String, nullable: true })
  git_commit: string | null;
  /** Execution provider and device per backend used in the run. */
  @ApiProperty({ type: 'object', additionalProperties: { $ref: getSchemaPath('EnvironmentBackendDto') } })
  backends: Record<string, EnvironmentBackendDto>;
}

/** Two configurations of one run measured side by side round by round, and their paired ratio. */
export class PairedComparisonDto {
  baseline_label: string;
  candidate_label: string;
  /** What differs between the two: `model`, `backend` or both. */
  varies: string[];
  baseline_median_ms: number;
  candidate_median_ms: number;
  /** candidate / baseline (< 1 is faster). */
  @ApiProperty({ type: Number, nullable: true })
  ratio: number | null;
  /** Confidence interval of the ratio. */
  @ApiProperty({ type: [Number], nullable: true, minItems: 2, maxItems: 2 })
  ratio_ci: [number, number] | null;
  confidence: number;
  threshold: number;
  @ApiProperty({ enum: ROUND_STATISTICS })
  statistic: RoundStatistic;
  rounds: number;
  @ApiProperty({ enum: ['improved', 'regressed', 'unchanged', 'inconclusive'] })
  verdict: 'improved' | 'regressed' | 'unchanged' | 'inconclusive';
  reason: string;
  /** For an inconclusive verdict, about how many rounds would decide it. */
  @ApiProperty({ type: Number, nullable: true })
  rounds_needed: number | null;
}

/** The between-run noise a comparison assumed for one configuration. */
export class RunNoiseUsedDto {
  /** Relative standard deviation of one run beyond its rounds (0.03 = 3%). */
  cv: number;
  @ApiProperty({ enum: ['request', 'history', 'prior'] })
  source: 'request' | 'history' | 'prior';
  /** Earlier runs of this configuration that were found (null when none were looked at). */
  @ApiProperty({ type: Number, nullable: true })
  runs: number | null;
}

/** The confidence interval of a ratio and how it was computed. */
export class RatioIntervalDto {
  /** The ratio of the geometric means of the round values. */
  ratio: number;
  lower: number;
  upper: number;
  /** Two-sided confidence level of [lower, upper]. */
  confidence: number;
  @ApiProperty({ enum: ['welch-log', 'paired-log'] })
  method: 'welch-log' | 'paired-log';
  /** Degrees of freedom of the t quantile. */
  df: number;
  /** Standard error of the log ratio. */
  se_log: number;
  /** The part of se_log^2 that comes from the between-run component. */
  run_var_log: number;
  n_baseline: number;
  n_candidate: number;
}

/** One configuration matched in both runs of a comparison, and its verdict. */
export class ConfigurationComparisonDto {
  model: string;
  /** The content id both sides matched on (null when matched by name). */
  @ApiProperty({ type: String, nullable: true })
  model_id: string | null;
  /** The candidate's model name when it differs from the baseline's. */
  candidate_model?: string;
  @ApiProperty({ enum: BACKEND_NAMES })
  backend: BackendName;
  precision: string;
  batch_size: number;
  @ApiProperty({ type: Number, nullable: true })
  sequence_length: number | null;
  baseline_median_ms: number;
  candidate_median_ms: number;
  /** candidate / baseline of the geometric means of the round values (< 1 is faster). */
  @ApiProperty({ type: Number, nullable: true })
  ratio: number | null;
  @ApiProperty({ type: [Number], nullable: true, minItems: 2, maxItems: 2 })
  ratio_ci: [number, number] | null;
  /** ratio - 1. */
  @ApiProperty({ type: Number, nullable: true })
  relative_change: number | null;
  @ApiProperty({ type: () => RatioIntervalDto, nullable: true })
  interval: RatioIntervalDto | null;
  baseline_rounds: number;
  candidate_rounds: number;
  @ApiProperty({ type: Number, nullable: true })
  baseline_noise_cv: number | null;
  @ApiProperty({ type: Number, nullable: true })
  candidate_noise_cv: number | null;
  run_noise: RunNoiseUsedDto;
  @ApiProperty({ enum: ['improved', 'regressed', 'unchanged', 'inconclusive'] })
  verdict: 'improved' | 'regressed' | 'unchanged' | 'inconclusive';
  reason: string;
  @ApiProperty({ type: Number, nullable: true })
  rounds_needed: number | null;
}

/** A configuration only one side of a comparison has (or that cannot be compared). */
export class UnmatchedConfigurationDto {
  @ApiProperty({ enum: ['baseline', 'candidate', 'both'] })
  side: 'baseline' | 'candidate' | 'both';
  model: string;
  @ApiProperty({ type: String, nullable: true })
  model_id: string | null;
  @ApiProperty({ enum: BACKEND_NAMES })
  backend: BackendName;
  precision: string;
  batch_size: number;
  @ApiProperty({ type: Number, nullable: true })
  sequence_length: number | null;
  reason: string;
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
  environment: EnvironmentDto;
  /** The measurement settings with every default filled in (mode, max_new_tokens, rounds, ...). */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  settings?: Record<string, unknown>;
  /** One entry per configuration, in the order they were measured. */
  configurations: ConfigurationResultDto[];
  /** What every metric times; keys are field names. */
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  definitions: Record<string, string>;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  comparison?: Record<string, unknown>;
  /** Paired ratios of configurations measured side by side in this run (several models or backends). */
  paired: PairedComparisonDto[];
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
  configurations: ConfigurationComparisonDto[];
  unmatched: UnmatchedConfigurationDto[];
  baseline_run_id: string;
  candidate_run_id: string;
}
