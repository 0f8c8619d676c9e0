/** The Test core's request and result contracts (snake_case results: they go out as JSON as they are). */
import type { BackendName, ChatMessage, HardwareBackend, ModelImplementation } from '../types';

export const TEST_TYPES = ['basic', 'comprehensive', 'fault_tolerance', 'generation'] as const;
export type TestType = (typeof TEST_TYPES)[number];

export function isTestType(v: unknown): v is TestType {
  return typeof v === 'string' && (TEST_TYPES as readonly string[]).includes(v);
}

export const TEST_TYPE_DESCRIPTIONS: Record<TestType, string> = {
  basic:
    'Per backend: detect, load (timed), one inference on generated inputs, output names/dtypes/shapes against the declared outputs, finite values, a short latency probe.',
  comprehensive:
    'basic + batch sizes x sequence lengths, determinism (bitwise on CPU), agreement of every backend with CPU, golden inputs/outputs (io.safetensors) when present, latency (median of >= 20 runs).',
  fault_tolerance:
    'Missing input, wrong dtype, wrong rank, ids out of range, empty batch, a truncated model file and a cancelled run: each must end in a cleanly captured error, and the session must still give the reference output afterwards.',
  generation:
    "Language models: per backend, detect, load, then generate() on the request's prompt (text, chat messages or token ids) with its options; the check passes when new tokens come out, and reports them (and their text), time to first token, time per output token and tokens/s.",
};

/** What a `generation` test generates from (one of prompt, messages, inputIds) and how. */
export interface GenerationTestRequest {
  prompt?: string;
  messages?: ChatMessage[];
  inputIds?: number[][];
  maxNewTokens?: number;
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

export interface TestTolerance {
  /** Max abs error against io.safetensors on CPU (default 1e-4). */
  golden?: number;
  /** Max abs error of a non-CPU backend against CPU, and against the golden outputs (default 1e-3). */
  agreement?: number;
}

export const DEFAULT_TOLERANCE: Required<TestTolerance> = { golden: 1e-4, agreement: 1e-3 };

/**
 * Tolerances for a graph that computes in fp16: one fp16 step is 2^-10 relative (about 0.004 at a
 * value of 4, 0.008 at 8), and two backends' fp16 kernels round and accumulate differently, so the
 * fp32 bounds would fail on rounding alone. 5e-2 is a few fp16 steps at the magnitudes these models'
 * outputs reach; a real fault (wrong weights, wrong op) is far above it.
 */
export const FP16_TOLERANCE: Required<TestTolerance> = { golden: 5e-2, agreement: 5e-2 };

/**
 * Tolerances for an int8 or int4 graph: its weights themselves differ from the fp32 checkpoint's (by
 * up to half a quantization step each), so its outputs sit a quantization error away from fp32
 * references (golden), and backends differ by more than rounding: the cpu provider also quantizes the
 * activations (int8 dynamically, int4 at accuracy level 4) where webgpu and cuda compute them in
 * float. How close a quantized graph stays to fp32 is the generator's own check (cosine similarity
 * and greedy-token agreement, libs/core/src/onnx/quantized.spec.ts); these bounds catch real faults.
 */
export const QUANTIZED_TOLERANCE: Required<TestTolerance> = { golden: 0.25, agreement: 0.1 };

/** The default tolerances of a model of `precision` (fp16, int8/int4: their own; otherwise fp32's). */
export function toleranceFor(precision: string | undefined): Required<TestTolerance> {
  if (precision === 'fp16') return { ...FP16_TOLERANCE };
  if (precision === 'int8' || precision === 'int4') return { ...QUANTIZED_TOLERANCE };
  return { ...DEFAULT_TOLERANCE };
}

export interface TestRequest {
  modelName: string;
  /** Already loaded with loadImplementation. */
  model: ModelImplementation;
  /** io.safetensors with `input.<name>` / `output.<name>` tensors. */
  goldenPath?: string;
  hardware: BackendName[];
  testType: TestType;
  /** comprehensive: batch sizes (default 1, 2, 4) where the model has a batch axis. */
  batchSizes?: number[];
  /** comprehensive: sequence lengths (default 8, 32) where the model has a sequence axis. */
  sequenceLengths?: number[];
  tolerance?: TestTolerance;
  /** The model's .onnx file for the truncated-copy check (default: metadata.onnxPath). */
  modelPath?: string;
  /** Where the truncated copy is written (default: a fresh folder under the OS temp dir). */
  tmpDir?: string;
  /** Latency probe runs (default 5 for basic and fault_tolerance, 20 for comprehensive; at least 20 there). */
  latencyRuns?: number;
  /** Input seed (default 42). */
  seed?: number;
  /** The `generation` test type: prompt and options. */
  generation?: GenerationTestRequest;
}

export interface TestDeps {
  backends: Map<BackendName, HardwareBackend>;
}

export type CheckStatus = 'passed' | 'failed' | 'skipped';

export interface TestDetail {
  name: string;
  backend: BackendName;
  status: CheckStatus;
  duration_ms: number;
  message?: string;
  metrics?: Record<string, unknown>;
}

export interface BackendPerformance {
  /** Median latency of one inference on the reference inputs, ms. */
  latency_ms: number;
  /** Items (batch rows) per second at that median. */
  throughput_items_per_sec: number;
  /** Process RSS right after the model was loaded on this backend, MiB. */
  memory_mb: number;
}

export interface TestResults {
  status: 'passed' | 'failed';
  model_name: string;
  hardware: BackendName[];
  test_type: TestType;
  started_at: string;
  completed_at: string;
  duration_s: number;
  summary: { tests_passed: number; tests_failed: number; tests_skipped: number };
  test_details: TestDetail[];
  performance_metrics: Partial<Record<BackendName, BackendPerformance>>;
  /** The precision of the graph that was tested (set by the server; unknown when it cannot be told). */
  precision?: string;
  /**
   * The graph flavour that was tested, portable or optimized (set by the server; unknown for a graph
   * the generator did not build).
   */
  graph?: string;
}

/** A check that did not hold; `metrics` travel into the detail. */
export class CheckFailed extends Error {
  constructor(
    message: string,
    readonly metrics?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'CheckFailed';
  }
}
