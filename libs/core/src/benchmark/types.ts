/**
 * Benchmark request and result shapes. Plain JSON (snake_case), stored by the server as they are.
 */
import type { ModelRef } from '../models/load';
import type { BackendName } from '../types';
import type { MannWhitneyResult, SampleStats } from './stats';

/** A model to benchmark: a serializable reference (it crosses into the worker) plus a display name. */
export type BenchmarkModelRef = ModelRef & { name: string };

export interface WarmupSettings {
  /** Warm-up runs always done before steadiness is checked. Default 20. */
  min_iterations: number;
  /** Warm-up stops here even when not steady. Default 200. */
  max_iterations: number;
  /** Steady when the CV of the medians of the last `windows` windows is at most this. Default 0.1. */
  steady_cv: number;
  /** Runs per window. Default 5. */
  window_size?: number;
  /** Windows compared. Default 3. */
  windows?: number;
  /** Warm-up stops after this many seconds even when not steady. Default 30. */
  max_duration_s?: number;
}

export interface BenchmarkRequest {
  models: BenchmarkModelRef[];
  hardware: BackendName[];
  batch_sizes: number[];
  /** Ignored (the configuration records null) for models without a sequence axis. */
  sequence_lengths: number[];
  /**
   * The precision label of the models as given (`fp32`, `fp16`, `int8`, ...). The core runs the model
   * file it is given and does not convert it; the label is recorded with every configuration.
   */
  precision: string;
  warmup: WarmupSettings;
  /** Measured iterations required at least. Default 10. */
  min_iterations: number;
  /** Measurement lasts at least this long (and at least min_iterations). Default 3. */
  min_duration_s: number;
  /** Measurement stops here even when min_iterations is not reached. Default max(30, 10 * min_duration_s). */
  max_duration_s?: number;
  /** Iteration cap of the measurement. Default 100000. */
  max_iterations?: number;
  /** Seed for inputs and sentences. */
  seed: number;
  /** Also measure text -> tokenize -> run when the model has a tokenizer. */
  include_preprocessing?: boolean;
}

/** The request with every default filled in, as recorded in the result. */
export interface ResolvedSettings {
  warmup: Required<WarmupSettings>;
  min_iterations: number;
  min_duration_s: number;
  max_duration_s: number;
  max_iterations: number;
  seed: number;
  precision: string;
  include_preprocessing: boolean;
}

export interface EnvironmentInfo {
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
  /** HEAD commit of the repository the caller pointed at, read from .git without spawning git. */
  git_commit: string | null;
  /** Execution provider and device per backend used in the run (from detect()). */
  backends: Record<
    string,
    {
      available: boolean;
      execution_provider: string;
      device: Record<string, unknown> | null;
      reason?: string;
    }
  >;
}

export type ConfigurationStatus = 'ok' | 'skipped' | 'failed';

export interface PreprocessingResult {
  /** What each iteration timed: encode(texts) then run(feeds), text in, outputs out (ms). */
  pipeline: SampleStats;
  /** The encode (tokenize) part alone of the same iterations (ms). */
  tokenize: SampleStats;
  /** Pipeline throughput: batch_size / pipeline median (items/s). */
  throughput_items_per_sec: number;
  /** Per-iteration pipeline latencies (ms). */
  latencies_ms: number[];
  /** The words each sentence was generated with (before the tokenizer truncated to sequence_length). */
  words_per_sentence: number;
}

export interface ConfigurationResult {
  /** 0-based position in the run. */
  index: number;
  /** `model/backend/b<batch>[/s<seq>]`. */
  label: string;
  model: string;
  backend: BackendName;
  batch_size: number;
  sequence_length: number | null;
  precision: string;
  status: ConfigurationStatus;
  /** Why skipped or failed. */
  reason?: string;
  execution_provider: string | null;
  device: Record<string, unknown> | null;
  load_ms: number | null;
  first_inference_ms: number | null;
  warmup_iterations: number;
  /** Whether warm-up ended because the windows were steady (false: a cap ended it). */
  warmup_steady: boolean;
  /** The windowed CV when warm-up ended (null when never computed). */
  warmup_cv: number | null;
  /** Wall-clock length of the measurement phase (s). */
  measure_duration_s: number | null;
  /** Statistics of latencies_ms; null unless ok. */
  stats: SampleStats | null;
  /** batch_size / median latency (items/s). */
  throughput_items_per_sec: number | null;
  /** batch_size * count / wall-clock measurement time (items/s). */
  throughput_wall_items_per_sec: number | null;
  /** Largest RSS sampled from before load to after measurement (MiB). */
  peak_rss_mb: number | null;
  /** RSS after measurement minus RSS before load (MiB; may be negative). */
  rss_growth_mb: number | null;
  /** Per-iteration latencies of the measurement phase (ms), in order. */
  latencies_ms: number[];
  preprocessing?: PreprocessingResult;
}

export interface BenchmarkResult {
  environment: EnvironmentInfo;
  settings: ResolvedSettings;
  configurations: ConfigurationResult[];
  /** What every metric times; keys are field names. */
  definitions: Record<string, string>;
  started_at: string;
  completed_at: string;
}

/** Progress data in every report's `data`. */
export type BenchmarkProgressData = {
  configuration_index: number;
  configuration_total: number;
  label: string;
  phase: 'load' | 'warmup' | 'measure' | 'preprocessing' | 'done';
  iterations: number;
  running_median_ms: number | null;
};

export type ComparisonVerdict = 'improved' | 'regressed' | 'unchanged';

export interface ConfigurationComparison {
  model: string;
  backend: BackendName;
  batch_size: number;
  sequence_length: number | null;
  baseline_median_ms: number;
  candidate_median_ms: number;
  /** (candidate - baseline) / baseline of the medians: negative is faster. */
  relative_change: number;
  /** Two-sided Mann-Whitney U p-value on the raw latencies. */
  p_value: number;
  test: Pick<MannWhitneyResult, 'u' | 'u1' | 'u2' | 'n1' | 'n2' | 'z' | 'method'>;
  verdict: ComparisonVerdict;
}

export interface UnmatchedConfiguration {
  side: 'baseline' | 'candidate' | 'both';
  model: string;
  backend: BackendName;
  batch_size: number;
  sequence_length: number | null;
  reason: string;
}

export interface ComparisonResult {
  threshold: number;
  alpha: number;
  verdict: ComparisonVerdict;
  configurations: ConfigurationComparison[];
  unmatched: UnmatchedConfiguration[];
  baseline: { started_at: string; git_commit: string | null };
  candidate: { started_at: string; git_commit: string | null };
}
