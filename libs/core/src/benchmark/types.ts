/**
 * Benchmark request and result shapes. Plain JSON (snake_case), stored by the server as they are.
 */
import type { ModelRef } from '../models/load';
import type { BackendName } from '../types';
import type { RatioInterval, RatioVerdict } from './ratio';
import type { SampleStats } from './stats';

/** A model to benchmark: a serializable reference (it crosses into the worker) plus a display name. */
export type BenchmarkModelRef = ModelRef & {
  name: string;
  /** The precision of this model's graph (what runs); default: the request's `precision`. */
  precision?: string;
  /** Its graph flavour (portable, optimized); default: unknown. */
  graph?: string;
};

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
   * The precision of the models (`fp32`, `fp16`, ...), recorded with every configuration whose model
   * ref gives none. The core runs the model file it is given and converts nothing: the server selects
   * (or generates) the graph of the requested precision and puts its real precision on each ref.
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
  /**
   * Measurement rounds per configuration, interleaved across the run's configurations (forward in even
   * rounds, backward in odd ones), so slow drift of the machine spreads over all of them. The iteration
   * and duration settings are shared out equally over the rounds. Default 5 (at most max_iterations).
   */
  rounds?: number;
  /** Untimed runs before each round after the first (the first round follows the full warm-up). Default 2. */
  round_warmup_iterations?: number;
  /**
   * Load a fresh session for every round after the first (then warm it up with
   * max(round_warmup_iterations, warmup.min_iterations) runs), so session-level effects (memory
   * placement, thread pools) vary between rounds as they do between runs. Default false.
   */
  reload_each_round?: boolean;
  /** Seed for inputs and sentences. */
  seed: number;
  /** Also measure text -> tokenize -> run when the model has a tokenizer. */
  include_preprocessing?: boolean;
  /**
   * `latency` (default): one forward pass per iteration. `generate`: one handle.generate() of
   * `max_new_tokens` tokens per iteration (prompt: the configuration's batch x sequence length of
   * seeded ids), timing the first token and every later one.
   */
  mode?: BenchmarkMode;
  /** New tokens per generation in `generate` mode (default 32). */
  max_new_tokens?: number;
}

export type BenchmarkMode = 'latency' | 'generate';
export const BENCHMARK_MODES: readonly BenchmarkMode[] = ['latency', 'generate'];

/** The figures of a `generate`-mode configuration. */
export interface GenerationFigures {
  max_new_tokens: number;
  /** Prompt tokens per row (the configuration's sequence length). */
  prompt_length: number;
  /** Time to first token: generate() start to the first token (the prompt's pass), per iteration (ms). */
  ttft_ms: SampleStats;
  /** Time per output token: every later step of every measured generation (ms). */
  tpot_ms: SampleStats;
  /** Whole generate() calls (ms): the same values as the configuration's latencies. */
  e2e_ms: SampleStats;
  tokens_per_s: {
    /** batch * 1000 / mean TPOT: new tokens per second once the prompt is in. */
    decode: number;
    /** batch * max_new_tokens * 1000 / mean e2e: new tokens per second, prefill included. */
    total: number;
  };
}

/** The request with every default filled in, as recorded in the result. */
export interface ResolvedSettings {
  warmup: Required<WarmupSettings>;
  min_iterations: number;
  min_duration_s: number;
  max_duration_s: number;
  max_iterations: number;
  rounds: number;
  round_warmup_iterations: number;
  reload_each_round: boolean;
  seed: number;
  precision: string;
  include_preprocessing: boolean;
  mode: BenchmarkMode;
  /** New tokens per generation (null in latency mode). */
  max_new_tokens: number | null;
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

/** One measurement round of a configuration. */
export interface RoundSummary {
  /** 0-based round number. */
  round: number;
  /** Measured iterations in this round. */
  count: number;
  /** Median latency of the round (ms). */
  median_ms: number;
  /** Smallest latency of the round (ms): noise on a shared machine only ever adds time. */
  min_ms: number;
}

export interface ConfigurationResult {
  /** 0-based position in the run. */
  index: number;
  /** `model/backend/b<batch>[/s<seq>]`. */
  label: string;
  model: string;
  /**
   * Content id of the model that ran (the generated manifest's CID, or the .onnx file's CID), set by
   * the server; comparisons match configurations by it, not by the model's name or path.
   */
  model_id?: string | null;
  backend: BackendName;
  batch_size: number;
  sequence_length: number | null;
  precision: string;
  /** The graph flavour that ran: portable, optimized, or unknown (a graph the generator did not build). */
  graph: string;
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
  /** Per-iteration latencies of the measurement phase (ms), in order, all rounds one after another. */
  latencies_ms: number[];
  /** The measurement rounds, in order; their counts partition latencies_ms. */
  rounds: RoundSummary[];
  /** rounds[].median_ms, the replicates comparisons use. */
  round_medians_ms: number[];
  /** Noise floor: coefficient of variation of the round medians (null with fewer than 2 rounds). */
  noise_cv: number | null;
  preprocessing?: PreprocessingResult;
  /** `generate` mode: TTFT, TPOT, end-to-end and tokens/s. */
  generation?: GenerationFigures;
  /** `generate` mode: mean time of the n-th new token over the measured generations (ms; [0] = TTFT). */
  per_token_ms?: number[];
}

/** Two configurations of one run measured side by side round by round, and their paired ratio. */
export interface PairedComparison {
  baseline_label: string;
  candidate_label: string;
  /** What differs between the two: `model`, `backend` or both. */
  varies: string[];
  baseline_median_ms: number;
  candidate_median_ms: number;
  ratio: number | null;
  ratio_ci: [number, number] | null;
  confidence: number;
  threshold: number;
  statistic: RoundStatistic;
  rounds: number;
  verdict: RatioVerdict;
  reason: string;
  rounds_needed: number | null;
}

export interface BenchmarkResult {
  environment: EnvironmentInfo;
  settings: ResolvedSettings;
  configurations: ConfigurationResult[];
  /** What every metric times; keys are field names. */
  definitions: Record<string, string>;
  /**
   * Paired ratios of configurations measured side by side: with several models, each later model
   * against the first at the same backend, batch and sequence; with several backends, each later
   * backend against the first for the same model. Absent on results stored before rounds existed.
   */
  paired?: PairedComparison[];
  started_at: string;
  completed_at: string;
}

/** Progress data in every report's `data`. */
export type BenchmarkProgressData = {
  configuration_index: number;
  configuration_total: number;
  label: string;
  phase: 'load' | 'warmup' | 'measure' | 'preprocessing' | 'done';
  /** 0-based round of the measurement (null before the first and after the last). */
  round: number | null;
  rounds: number;
  iterations: number;
  running_median_ms: number | null;
};

export type ComparisonVerdict = RatioVerdict;

/** Which per-round value comparisons use: the round's median or its minimum latency. */
export type RoundStatistic = 'median' | 'min';

/** The between-run noise a comparison of two separate runs assumed for one configuration. */
export interface RunNoiseUsed {
  /** Relative standard deviation of one run's value beyond its rounds (log scale; 0.03 = 3%). */
  cv: number;
  /** `request` (run_noise_cv), `history` (earlier runs of this configuration) or `prior` (the default). */
  source: 'request' | 'history' | 'prior';
  /** Earlier runs of this configuration that were found (null when none were looked at). */
  runs: number | null;
}

export interface ConfigurationComparison {
  model: string;
  /** The content id both sides matched on (null when matched by name because one side had none). */
  model_id: string | null;
  /** The candidate's model name when it differs from the baseline's (same content, other name or path). */
  candidate_model?: string;
  backend: BackendName;
  precision: string;
  batch_size: number;
  sequence_length: number | null;
  baseline_median_ms: number;
  candidate_median_ms: number;
  /** Ratio candidate / baseline of the geometric means of the round medians (< 1 is faster). */
  ratio: number | null;
  /** Confidence interval of the ratio (null with fewer than 2 rounds on a side). */
  ratio_ci: [number, number] | null;
  /** ratio - 1. */
  relative_change: number | null;
  interval: RatioInterval | null;
  baseline_rounds: number;
  candidate_rounds: number;
  /** CV of the round medians on each side: the noise floor of each run. */
  baseline_noise_cv: number | null;
  candidate_noise_cv: number | null;
  /** The between-run component added to the rounds' spread (two separate runs share no machine state). */
  run_noise: RunNoiseUsed;
  verdict: ComparisonVerdict;
  reason: string;
  /** For an inconclusive verdict, about how many rounds per side would decide it. */
  rounds_needed: number | null;
}

export interface UnmatchedConfiguration {
  side: 'baseline' | 'candidate' | 'both';
  model: string;
  model_id: string | null;
  backend: BackendName;
  precision: string;
  batch_size: number;
  sequence_length: number | null;
  reason: string;
}

export interface ComparisonResult {
  threshold: number;
  confidence: number;
  /** The per-round statistic the ratios are of. */
  statistic: RoundStatistic;
  verdict: ComparisonVerdict;
  /** Why the overall verdict is what it is. */
  reason: string;
  configurations: ConfigurationComparison[];
  unmatched: UnmatchedConfiguration[];
  baseline: { started_at: string; git_commit: string | null };
  candidate: { started_at: string; git_commit: string | null };
}
