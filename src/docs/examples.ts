/**
 * Example responses of the OpenAPI document, one per route, typed by their DTOs (so a DTO change
 * that breaks one fails to compile) and validated against the document's schemas by
 * test/openapi.e2e-spec.ts. They are what a run of the README's examples answers, shortened.
 */
import { listTemplates } from '../../libs/core/src/generator/templates';
import { listModels } from '../../libs/core/src/models/registry';
import { TEST_TYPE_DESCRIPTIONS, TEST_TYPES } from '../../libs/core/src/testing';
import { HardwareListDto } from '../common/hardware/hardware.dto';
import { WorkerListDto } from '../common/jobs/workers.dto';
import { CancelResponseDto, OperationListDto, OperationStatusDto } from '../common/operations/operation.dto';
import { HealthDto, LivenessDto, UnhealthyDto } from '../health/health.dto';
import {
  BenchmarkResultsDto,
  BenchmarkRunsDto,
  ComparisonDto,
  ConfigurationResultDto,
  RunBenchmarkAcceptedDto,
  SampleStatsDto,
} from '../modules/benchmark/benchmark.dto';
import {
  BatchGenerateAcceptedDto,
  GenerateAcceptedDto,
  GenerationListDto,
  GenerationResultsDto,
  ModelListingDto,
  TemplateDto,
} from '../modules/generator/generator.dto';
import { RunTestAcceptedDto, TestResultsDto, TestRunListDto, TestTypeDto } from '../modules/test/test.dto';

const RUN_ID = '0197a3c2-5b1e-7c4d-9a2b-3f4e5d6c7b8a';
const TASK_ID = '0197a3c1-0a2b-7c3d-8e4f-5a6b7c8d9e0f';
const BENCH_ID = '0197a3c4-1d2e-7f3a-8b4c-5d6e7f8a9b0c';
const BASELINE_ID = '0197a3b0-9c8d-7e6f-8a5b-4c3d2e1f0a9b';
const CREATED = '2026-12-01T10:00:00.000Z';
const STARTED = '2026-12-01T10:00:00.120Z';
const FINISHED = '2026-12-01T10:00:04.870Z';

function status(kind: OperationStatusDto['kind'], id: string, done: boolean): OperationStatusDto {
  return {
    id,
    kind,
    status: done ? 'completed' : 'running',
    model_name: 'prajjwal1/bert-tiny',
    progress: done ? 1 : 0.4,
    current_step: done ? null : 'running on cpu',
    created_at: CREATED,
    started_at: STARTED,
    finished_at: done ? FINISHED : null,
    elapsed_s: done ? 4.75 : 1.9,
    eta_s: done ? 0 : 2.8,
    attempts: 1,
  };
}

export const TEST_STATUS = status('test', RUN_ID, false);
export const GENERATOR_STATUS = status('generator', TASK_ID, false);
export const BENCHMARK_STATUS = status('benchmark', BENCH_ID, false);

export const RUN_TEST_ACCEPTED: RunTestAcceptedDto = {
  run_id: RUN_ID,
  status: 'queued',
  message: 'test run accepted: basic on cpu',
  started_at: CREATED,
};

export const TEST_RESULTS: TestResultsDto = {
  run_id: RUN_ID,
  status: 'passed',
  model_name: 'prajjwal1/bert-tiny',
  hardware: ['cpu'],
  test_type: 'basic',
  started_at: STARTED,
  completed_at: FINISHED,
  duration_s: 4.75,
  summary: { tests_passed: 3, tests_failed: 0, tests_skipped: 0 },
  test_details: [
    { name: 'load', backend: 'cpu', status: 'passed', duration_ms: 41.2 },
    {
      name: 'inference',
      backend: 'cpu',
      status: 'passed',
      duration_ms: 3.1,
      metrics: { outputs: ['last_hidden_state'] },
    },
    { name: 'determinism', backend: 'cpu', status: 'passed', duration_ms: 6.4 },
  ],
  performance_metrics: { cpu: { latency_ms: 1.6, throughput_items_per_sec: 625, memory_mb: 182.4 } },
  precision: 'fp32',
  graph: 'portable',
};

export const TEST_RUNS: TestRunListDto = { items: [status('test', RUN_ID, true)], next_cursor: null };

export const TEST_CANCELLED: CancelResponseDto = {
  cancelled: true,
  status: { ...TEST_STATUS, status: 'cancelled', finished_at: FINISHED, current_step: null, eta_s: null },
};

export const TEST_TYPES_EXAMPLE: TestTypeDto[] = TEST_TYPES.map((name) => ({
  name,
  description: TEST_TYPE_DESCRIPTIONS[name],
}));

export const MODELS: ModelListingDto[] = listModels().filter((m) => m.id === 'prajjwal1/bert-tiny');

/** The first template of the catalog, as GET /api/generator/templates lists it. */
export const TEMPLATES = listTemplates().slice(0, 1) as unknown as TemplateDto[];

export const GENERATE_ACCEPTED: GenerateAcceptedDto = {
  task_id: TASK_ID,
  status: 'queued',
  message: 'generation of prajjwal1/bert-tiny accepted',
  started_at: CREATED,
  model_name: 'prajjwal1/bert-tiny',
  output_dir: 'prajjwal1--bert-tiny',
};

export const BATCH_ACCEPTED: BatchGenerateAcceptedDto = { tasks: [GENERATE_ACCEPTED] };

export const GENERATION_RESULTS: GenerationResultsDto = {
  task_id: TASK_ID,
  model_name: 'prajjwal1/bert-tiny',
  family: 'bert',
  file_path: '/data/models/prajjwal1--bert-tiny/model.ts',
  js_path: '/data/models/prajjwal1--bert-tiny/model.js',
  spec_path: '/data/models/prajjwal1--bert-tiny/model.spec.ts',
  onnx_path: '/data/models/prajjwal1--bert-tiny/model.onnx',
  manifest_path: '/data/models/prajjwal1--bert-tiny/manifest.json',
  manifest: { model: 'prajjwal1/bert-tiny', family: 'bert', precision: 'fp32' },
  cid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
  template: 'encoder',
  parameters: 4385920,
  bytes_written: 17601234,
  weights: 'random',
  precision: 'fp32',
  task: 'feature-extraction',
  kv_cache: false,
  graph: 'portable',
};

export const GENERATIONS: GenerationListDto = {
  items: [status('generator', TASK_ID, true)],
  next_cursor: null,
};

export const GENERATION_CANCELLED: CancelResponseDto = {
  cancelled: true,
  status: {
    ...GENERATOR_STATUS,
    status: 'cancelled',
    finished_at: FINISHED,
    current_step: null,
    eta_s: null,
  },
};

export const RUN_BENCHMARK_ACCEPTED: RunBenchmarkAcceptedDto = {
  run_id: BENCH_ID,
  status: 'queued',
  message: 'benchmark accepted: 2 configuration(s)',
  started_at: CREATED,
  configurations: 2,
};

const STATS: SampleStatsDto = {
  count: 5,
  mean: 1.62,
  p50: 1.6,
  p90: 1.7,
  p95: 1.72,
  p99: 1.74,
  min: 1.55,
  max: 1.75,
  stdev: 0.08,
  cv: 0.049,
  cv_percent: 4.9,
  total: 8.1,
  median_ci95: { lower: 1.55, upper: 1.75, lower_rank: 1, upper_rank: 5, confidence: 0.9375 },
};

const CONFIGURATION: ConfigurationResultDto = {
  index: 0,
  label: 'prajjwal1/bert-tiny/cpu/b1/s128',
  model: 'prajjwal1/bert-tiny',
  model_id: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
  backend: 'cpu',
  batch_size: 1,
  sequence_length: 128,
  precision: 'fp32',
  graph: 'portable',
  status: 'ok',
  execution_provider: 'cpu',
  device: { cores: 2 },
  load_ms: 38.5,
  first_inference_ms: 4.2,
  warmup_iterations: 20,
  warmup_steady: true,
  warmup_cv: 0.03,
  measure_duration_s: 3.01,
  stats: STATS,
  throughput_items_per_sec: 625,
  throughput_wall_items_per_sec: 610.2,
  peak_rss_mb: 182.4,
  rss_growth_mb: 3.1,
  latencies_ms: [1.55, 1.6, 1.58, 1.75, 1.62],
  rounds: [{ round: 0, count: 5, median_ms: 1.6, min_ms: 1.55 }],
  round_medians_ms: [1.6],
  noise_cv: null,
};

export const BENCHMARK_RESULTS: BenchmarkResultsDto = {
  run_id: BENCH_ID,
  latency_ms: 1.6,
  throughput: 625,
  environment: {
    cpu_model: 'AMD EPYC 7B13',
    cpu_cores: 2,
    total_memory_mb: 24576,
    os: 'Linux',
    platform: 'linux',
    os_release: '6.1.0',
    arch: 'x64',
    node_version: 'v20.19.0',
    onnxruntime_version: '1.30.0',
    hostname: 'bench-1',
    git_commit: null,
    backends: { cpu: { available: true, execution_provider: 'cpu', device: { cores: 2 } } },
  },
  configurations: [CONFIGURATION],
  definitions: { latency_ms: 'process.hrtime around handle.run(feeds) only' },
  paired: [],
  tags: ['nightly'],
  started_at: STARTED,
  completed_at: FINISHED,
};

export const BENCHMARK_RUNS: BenchmarkRunsDto = {
  items: [
    {
      run_id: BENCH_ID,
      model: 'prajjwal1/bert-tiny',
      model_cid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
      backend: 'cpu',
      batch_size: 1,
      sequence_length: 128,
      status: 'ok',
      p50_ms: 1.6,
      throughput: 625,
      tags: ['nightly'],
      created_at: CREATED,
    },
  ],
};

export const BENCHMARK_OPERATIONS: OperationListDto = {
  items: [status('benchmark', BENCH_ID, true)],
  next_cursor: null,
};

export const COMPARISON: ComparisonDto = {
  verdict: 'unchanged',
  reason: 'every configuration is within the 5% threshold',
  threshold: 0.05,
  confidence: 0.95,
  statistic: 'median',
  configurations: [
    {
      model: 'prajjwal1/bert-tiny',
      model_id: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
      backend: 'cpu',
      precision: 'fp32',
      batch_size: 1,
      sequence_length: 128,
      baseline_median_ms: 1.61,
      candidate_median_ms: 1.6,
      ratio: 0.994,
      ratio_ci: [0.97, 1.019],
      relative_change: -0.006,
      interval: {
        ratio: 0.994,
        lower: 0.97,
        upper: 1.019,
        confidence: 0.95,
        method: 'welch-log',
        df: 8,
        se_log: 0.011,
        run_var_log: 0.0018,
        n_baseline: 5,
        n_candidate: 5,
      },
      baseline_rounds: 5,
      candidate_rounds: 5,
      baseline_noise_cv: 0.012,
      candidate_noise_cv: 0.01,
      run_noise: { cv: 0.03, source: 'prior', runs: null },
      verdict: 'unchanged',
      reason: 'the interval lies within ±5%',
      rounds_needed: null,
    },
  ],
  unmatched: [],
  baseline_run_id: BASELINE_ID,
  candidate_run_id: BENCH_ID,
};

export const BENCHMARK_CANCELLED: CancelResponseDto = {
  cancelled: true,
  status: {
    ...BENCHMARK_STATUS,
    status: 'cancelled',
    finished_at: FINISHED,
    current_step: null,
    eta_s: null,
  },
};

export const HARDWARE: HardwareListDto = {
  backends: [
    {
      name: 'cpu',
      available: true,
      device: { cores: 2 },
      onnxruntime_version: '1.30.0',
      execution_provider: 'cpu',
      detect_ms: 3,
    },
    {
      name: 'cuda',
      available: false,
      reason: 'no NVIDIA driver (libcuda.so.1 not found): install the driver and CUDA 12 runtime',
      onnxruntime_version: '1.30.0',
      execution_provider: 'cuda',
      detect_ms: 12,
    },
  ],
};

export const WORKERS: WorkerListDto = {
  workers: [
    {
      id: 'worker-1:4242',
      host: 'worker-1',
      pid: 4242,
      role: 'worker',
      backends: ['cpu'],
      queues: ['test', 'generator', 'benchmark@cpu'],
      current_jobs: [RUN_ID],
      started_at: CREATED,
      last_heartbeat: FINISHED,
    },
  ],
};

export const HEALTH: HealthDto = {
  status: 'ok',
  version: '0.1.0',
  uptime_s: 42,
  queue_driver: 'bullmq',
  components: ['test', 'generator', 'benchmark'],
  store: 'ok',
  queue: 'ok',
};

export const UNHEALTHY: UnhealthyDto = {
  statusCode: 503,
  error: 'Service Unavailable',
  code: 'QUEUE_UNAVAILABLE',
  message: 'queue: Redis did not answer within 2000 ms',
  details: { store: 'ok', queue: 'down' },
  ...HEALTH,
  status: 'degraded',
  queue: 'down',
};

export const LIVENESS: LivenessDto = { status: 'ok', uptime_s: 42 };

export const METRICS_TEXT =
  '# HELP ipfs_accelerate_jobs_total Jobs that ended in this process, by suite, backend and outcome\n' +
  '# TYPE ipfs_accelerate_jobs_total counter\n' +
  'ipfs_accelerate_jobs_total{kind="test",backend="cpu",status="completed"} 3\n';
