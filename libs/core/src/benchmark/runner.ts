/**
 * The in-process benchmark runner. For every (model, backend, batch, sequence) configuration:
 * load a session, time the first inference, warm up until steady, measure, summarize.
 *
 * Timing: process.hrtime.bigint() immediately before and after `await handle.run(feeds)`; inputs
 * are prepared once per configuration, outside every timed loop. Nothing else runs inside the
 * timed region. Progress reports and RSS samples happen between iterations, at most every 100 ms.
 *
 * The server runs this through {@link runBenchmarkIsolated} (a worker thread); calling it directly
 * is for the overhead check and for embedding.
 */
import { CancelledError, CoreError, ErrorCode, errorMessage, throwIfAborted } from '../errors';
import type {
  BackendDetection,
  BackendName,
  Feeds,
  HardwareBackend,
  ModelHandle,
  ModelImplementation,
  ModelMetadata,
  ProgressFn,
  RunContext,
} from '../types';
import { SeededRandom } from '../util/random';
import { captureEnvironment } from './environment';
import { pairedComparisons } from './compare';
import { coefficientOfVariation, percentile, summarize, windowedCv } from './stats';
import type {
  BenchmarkModelRef,
  BenchmarkProgressData,
  BenchmarkRequest,
  BenchmarkResult,
  ConfigurationResult,
  PreprocessingResult,
  ResolvedSettings,
} from './types';
import { BENCHMARK_MODES } from './types';

/** What every metric of a result times or means. Stored with each result as `definitions`. */
export const METRIC_DEFINITIONS: Readonly<Record<string, string>> = Object.freeze({
  load_ms:
    'Wall-clock time of implementation.load({ backend, sessionOptions }): creating the onnxruntime session ' +
    '(graph parsing, optimization, provider initialization), ms.',
  first_inference_ms:
    'Wall-clock time of the first handle.run(feeds) on the new session (cold caches, lazy init), ms.',
  warmup_iterations: 'Runs after the first inference and before measurement, not included in any statistic.',
  warmup_cv:
    'Steadiness when warm-up ended: coefficient of variation of the medians of the last `windows` windows of ' +
    '`window_size` warm-up runs each.',
  latencies_ms:
    'Per-iteration latency: process.hrtime.bigint() around `await handle.run(feeds)` only, inputs prepared ' +
    'once beforehand, ms.',
  'stats.count': 'Measured iterations.',
  'stats.mean': 'Arithmetic mean of latencies_ms.',
  'stats.p50': 'Median of latencies_ms (type-7 percentile: linear interpolation between order statistics).',
  'stats.p90': '90th percentile of latencies_ms (type 7).',
  'stats.p95': '95th percentile of latencies_ms (type 7).',
  'stats.p99': '99th percentile of latencies_ms (type 7).',
  'stats.min': 'Smallest latency.',
  'stats.max': 'Largest latency.',
  'stats.stdev': 'Sample standard deviation (n - 1) of latencies_ms.',
  'stats.cv': 'stdev / mean (fraction); cv_percent is the same in percent.',
  'stats.total': 'Sum of latencies_ms: time spent inside handle.run during measurement.',
  'stats.median_ci95':
    '95% confidence interval of the median by order statistics: ranks l and n + 1 - l, l the largest rank ' +
    'with P(B <= l - 1) <= 0.025 for B ~ Binomial(n, 1/2); confidence is its exact coverage.',
  throughput_items_per_sec: 'batch_size / (stats.p50 / 1000): items per second at the median latency.',
  throughput_wall_items_per_sec:
    'batch_size * stats.count / measure_duration_s: items per second over the wall-clock measurement phase ' +
    '(includes the loop overhead between runs).',
  measure_duration_s:
    'Wall-clock length of the measurement phase, first timed run start to last timed run end.',
  peak_rss_mb:
    'Largest process resident set size (process.memoryUsage.rss()) sampled before load, after load, after the ' +
    'first inference, every ~100 ms of warm-up and measurement, and after measurement, MiB. Process-wide.',
  rss_growth_mb: 'RSS after measurement minus RSS before load, MiB (negative when memory was returned).',
  'preprocessing.pipeline':
    'Per iteration: handle.encode(texts, { maxLength: sequence_length, padding: "max_length", truncation: true }) ' +
    'then handle.run(feeds) on fixed seeded sentences, timed together, ms.',
  'preprocessing.tokenize': 'The encode part alone of the same pipeline iterations, ms.',
  mode:
    'latency: an iteration is one handle.run(feeds). generate: an iteration is one handle.generate(prompt, ' +
    '{ maxNewTokens: max_new_tokens, eosTokenId: [] }) on the seeded input_ids [batch, sequence_length], so ' +
    'latencies_ms and stats time whole generations (and first_inference_ms the first one).',
  'generation.ttft_ms':
    'Time to first token: from the start of generate() to the first new token (the prompt pass with an empty ' +
    'KV cache, then the pick), one value per measured generation, ms.',
  'generation.tpot_ms':
    'Time per output token: each later step (one token per row: a pass over the new token with the cache, then ' +
    'the pick), every step of every measured generation, ms.',
  'generation.e2e_ms': 'Whole generate() calls (= stats), ms.',
  'generation.tokens_per_s.decode':
    'batch_size * 1000 / generation.tpot_ms.mean: new tokens per second after the first.',
  'generation.tokens_per_s.total':
    'batch_size * max_new_tokens * 1000 / generation.e2e_ms.mean: new tokens per second, first token included.',
  per_token_ms: 'Mean time of the n-th new token over the measured generations, ms ([0] is the TTFT).',
});

export const DEFAULT_SETTINGS = {
  warmup: {
    min_iterations: 20,
    max_iterations: 200,
    steady_cv: 0.1,
    window_size: 5,
    windows: 3,
    max_duration_s: 30,
  },
  min_iterations: 10,
  min_duration_s: 3,
  max_iterations: 100_000,
  rounds: 5,
  round_warmup_iterations: 2,
} as const;

/** Most rounds a request may ask for. */
export const MAX_ROUNDS = 1000;

/** How often progress is reported and RSS sampled during timed loops, ns. */
const TICK_NS = 100_000_000n;
/** The running median in progress reports covers at most the latest this many iterations. */
const RUNNING_MEDIAN_WINDOW = 1001;

export interface BenchmarkDeps {
  /** Builds the implementation of one model reference (the worker uses models/load's loadImplementation). */
  loadModel(ref: BenchmarkModelRef): Promise<ModelImplementation>;
  /** The backends by name, as createBackends returns them, or a list. */
  backends: ReadonlyMap<BackendName, HardwareBackend> | readonly HardwareBackend[];
  /** Repository whose HEAD commit is recorded in the environment. */
  repoDir?: string;
}

function positiveInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new CoreError(ErrorCode.VALIDATION, `${field} must be a positive integer`, { field, value });
  }
  return value;
}

function nonNegative(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new CoreError(ErrorCode.VALIDATION, `${field} must be a finite number >= 0`, { field, value });
  }
  return value;
}

/** Fills defaults and validates; throws CoreError(VALIDATION) with the field in `details`. */
export function resolveSettings(request: BenchmarkRequest): ResolvedSettings {
  const w = request.warmup ?? DEFAULT_SETTINGS.warmup;
  const d = DEFAULT_SETTINGS;
  const warmup = {
    min_iterations: nonNegative(w.min_iterations ?? d.warmup.min_iterations, 'warmup.min_iterations'),
    max_iterations: nonNegative(w.max_iterations ?? d.warmup.max_iterations, 'warmup.max_iterations'),
    steady_cv: nonNegative(w.steady_cv ?? d.warmup.steady_cv, 'warmup.steady_cv'),
    window_size: positiveInt(w.window_size ?? d.warmup.window_size, 'warmup.window_size'),
    windows: positiveInt(w.windows ?? d.warmup.windows, 'warmup.windows'),
    max_duration_s: nonNegative(w.max_duration_s ?? d.warmup.max_duration_s, 'warmup.max_duration_s'),
  };
  if (warmup.windows < 2) throw new CoreError(ErrorCode.VALIDATION, 'warmup.windows must be at least 2');
  if (warmup.max_iterations < warmup.min_iterations) {
    throw new CoreError(ErrorCode.VALIDATION, 'warmup.max_iterations must be >= warmup.min_iterations', {
      field: 'warmup.max_iterations',
      min: warmup.min_iterations,
      value: warmup.max_iterations,
    });
  }
  const min_iterations = positiveInt(request.min_iterations ?? d.min_iterations, 'min_iterations');
  const min_duration_s = nonNegative(request.min_duration_s ?? d.min_duration_s, 'min_duration_s');
  const max_duration_s = nonNegative(
    request.max_duration_s ?? Math.max(30, 10 * min_duration_s),
    'max_duration_s',
  );
  if (max_duration_s < min_duration_s) {
    throw new CoreError(ErrorCode.VALIDATION, 'max_duration_s must be >= min_duration_s', {
      field: 'max_duration_s',
      min: min_duration_s,
      value: max_duration_s,
    });
  }
  const max_iterations = positiveInt(request.max_iterations ?? d.max_iterations, 'max_iterations');
  if (max_iterations < min_iterations) {
    throw new CoreError(ErrorCode.VALIDATION, 'max_iterations must be >= min_iterations', {
      field: 'min_iterations',
      max: max_iterations,
      value: min_iterations,
    });
  }
  const rounds = positiveInt(request.rounds ?? d.rounds, 'rounds');
  if (rounds > MAX_ROUNDS) {
    throw new CoreError(ErrorCode.VALIDATION, `rounds must be at most ${MAX_ROUNDS}`, {
      field: 'rounds',
      max: MAX_ROUNDS,
      value: rounds,
    });
  }
  const round_warmup_iterations = nonNegative(
    request.round_warmup_iterations ?? d.round_warmup_iterations,
    'round_warmup_iterations',
  );
  const mode = request.mode ?? 'latency';
  if (!BENCHMARK_MODES.includes(mode)) {
    throw new CoreError(ErrorCode.VALIDATION, `mode must be latency or generate, got ${String(mode)}`, {
      field: 'mode',
    });
  }
  const max_new_tokens =
    mode === 'generate'
      ? positiveInt(request.max_new_tokens ?? DEFAULT_MAX_NEW_TOKENS, 'max_new_tokens')
      : null;
  return {
    warmup,
    min_iterations,
    min_duration_s,
    max_duration_s,
    max_iterations,
    // Every round measures at least one iteration, so there are never more rounds than iterations allowed.
    rounds: Math.min(rounds, max_iterations),
    round_warmup_iterations: Math.floor(round_warmup_iterations),
    reload_each_round: request.reload_each_round ?? false,
    seed: Number.isFinite(request.seed) ? request.seed : 0,
    precision: request.precision ?? 'fp32',
    include_preprocessing: request.include_preprocessing ?? false,
    mode,
    max_new_tokens,
  };
}

/** New tokens per generation in generate mode when the request does not say. */
export const DEFAULT_MAX_NEW_TOKENS = 32;

function validateShape(request: BenchmarkRequest): void {
  if (!Array.isArray(request.models) || request.models.length === 0) {
    throw new CoreError(ErrorCode.VALIDATION, 'models must list at least one model');
  }
  if (!Array.isArray(request.hardware) || request.hardware.length === 0) {
    throw new CoreError(ErrorCode.VALIDATION, 'hardware must list at least one backend');
  }
  if (!Array.isArray(request.batch_sizes) || request.batch_sizes.length === 0) {
    throw new CoreError(ErrorCode.VALIDATION, 'batch_sizes must list at least one batch size');
  }
  request.batch_sizes.forEach((b, i) => positiveInt(b, `batch_sizes[${i}]`));
  (request.sequence_lengths ?? []).forEach((s, i) => positiveInt(s, `sequence_lengths[${i}]`));
}

/**
 * Whether a model has a sequence axis: some input has a symbolic (named) dimension after the batch
 * dimension, as `input_ids: [batch, sequence]` does and `pixel_values: [batch, 3, 32, 32]` does not.
 */
export function hasSequenceAxis(metadata: ModelMetadata): boolean {
  return metadata.inputs.some((t) => t.shape.slice(1).some((d) => typeof d === 'string'));
}

export function configurationLabel(
  model: string,
  backend: string,
  batch: number,
  seq: number | null,
): string {
  return `${model}/${backend}/b${batch}${seq === null ? '' : `/s${seq}`}`;
}

function rssMb(): number {
  return process.memoryUsage.rss() / (1024 * 1024);
}

function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function runningMedian(latencies: readonly number[]): number | null {
  if (latencies.length === 0) return null;
  return percentile(latencies.slice(-RUNNING_MEDIAN_WINDOW), 0.5);
}

/** Emits progress at most every 100 ms, unless forced. Progress counts (configuration, round) units. */
class Reporter {
  private last = 0n;
  constructor(
    private readonly onProgress: ProgressFn | undefined,
    private readonly total: number,
    private readonly rounds: number,
  ) {}

  /** `done` units of `units` finished, plus `fraction` of the current one. */
  report(
    done: number,
    units: number,
    fraction: number,
    data: Omit<BenchmarkProgressData, 'configuration_total' | 'rounds'>,
    force = false,
  ) {
    if (!this.onProgress) return;
    const now = process.hrtime.bigint();
    if (!force && now - this.last < TICK_NS) return;
    this.last = now;
    const progress = units === 0 ? 1 : Math.min(1, (done + Math.min(1, Math.max(0, fraction))) / units);
    const payload: BenchmarkProgressData = { ...data, configuration_total: this.total, rounds: this.rounds };
    const round = data.round === null ? '' : ` round ${data.round + 1}/${this.rounds}`;
    this.onProgress({
      progress,
      step: `${data.phase} ${data.label} (${data.configuration_index + 1}/${this.total})${round}`,
      data: payload,
    });
  }
}

const WORDS = [
  'the', 'model', 'runs', 'quickly', 'on', 'every', 'device', 'while', 'we', 'measure', 'its', 'latency',
  'and', 'memory', 'a', 'small', 'network', 'reads', 'tokens', 'from', 'long', 'sentences', 'about',
  'weather', 'rivers', 'mountains', 'green', 'blue', 'light', 'happy', 'dog', 'cat', 'city', 'music',
  'paper', 'table', 'window', 'number', 'simple', 'careful',
]; // prettier-ignore

/** `count` sentences of `words` words each, drawn deterministically from `seed`. */
export function seededSentences(count: number, words: number, seed: number): string[] {
  const rng = new SeededRandom(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const ws: string[] = [];
    for (let j = 0; j < words; j++) ws.push(WORDS[rng.int(0, WORDS.length)]);
    out.push(ws.join(' '));
  }
  return out;
}

interface ConfigurationPlan {
  index: number;
  ref: BenchmarkModelRef;
  impl?: ModelImplementation;
  modelError?: string;
  backend: BackendName;
  detection?: BackendDetection;
  backendImpl?: HardwareBackend;
  batch: number;
  seq: number | null;
}

function emptyResult(plan: ConfigurationPlan, precision: string): ConfigurationResult {
  return {
    index: plan.index,
    label: configurationLabel(plan.ref.name, plan.backend, plan.batch, plan.seq),
    model: plan.ref.name,
    backend: plan.backend,
    batch_size: plan.batch,
    sequence_length: plan.seq,
    precision: plan.ref.precision ?? precision,
    graph: plan.ref.graph ?? 'unknown',
    status: 'ok',
    execution_provider: plan.detection?.execution_provider ?? null,
    device: plan.detection?.device ?? null,
    load_ms: null,
    first_inference_ms: null,
    warmup_iterations: 0,
    warmup_steady: false,
    warmup_cv: null,
    measure_duration_s: null,
    stats: null,
    throughput_items_per_sec: null,
    throughput_wall_items_per_sec: null,
    peak_rss_mb: null,
    rss_growth_mb: null,
    latencies_ms: [],
    rounds: [],
    round_medians_ms: [],
    noise_cv: null,
  };
}

/** Runs the benchmark in this thread. Throws CancelledError when `ctx.signal` fires. */
export async function runBenchmark(
  request: BenchmarkRequest,
  deps: BenchmarkDeps,
  ctx: Partial<RunContext> = {},
): Promise<BenchmarkResult> {
  validateShape(request);
  const settings = resolveSettings(request);
  const signal = ctx.signal;
  const started_at = new Date().toISOString();
  throwIfAborted(signal);

  const backendMap = new Map<BackendName, HardwareBackend>(
    deps.backends instanceof Map
      ? [...deps.backends.entries()]
      : (deps.backends as readonly HardwareBackend[]).map((b) => [b.name, b] as const),
  );

  // Build the implementations and detect the backends first, so the configuration count is known.
  const models: { ref: BenchmarkModelRef; impl?: ModelImplementation; error?: string }[] = [];
  for (const ref of request.models) {
    throwIfAborted(signal);
    try {
      models.push({ ref, impl: await deps.loadModel(ref) });
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      models.push({ ref, error: errorMessage(err) });
    }
  }
  const detections = new Map<BackendName, BackendDetection | undefined>();
  for (const name of new Set(request.hardware)) {
    throwIfAborted(signal);
    const b = backendMap.get(name);
    detections.set(name, b ? await b.detect() : undefined);
  }

  const plans: ConfigurationPlan[] = [];
  for (const m of models) {
    const seqs: (number | null)[] =
      m.impl && !hasSequenceAxis(m.impl.metadata)
        ? [null]
        : request.sequence_lengths?.length
          ? [...new Set(request.sequence_lengths)]
          : [null];
    for (const backend of new Set(request.hardware)) {
      for (const batch of new Set(request.batch_sizes)) {
        for (const seq of seqs) {
          plans.push({
            index: plans.length,
            ref: m.ref,
            impl: m.impl,
            modelError: m.error,
            backend,
            detection: detections.get(backend),
            backendImpl: backendMap.get(backend),
            batch,
            seq,
          });
        }
      }
    }
  }

  const configurations: ConfigurationResult[] = plans.map((plan) => emptyResult(plan, settings.precision));
  const slots: Slot[] = [];
  const sessions = new Map<string, Session>();
  for (const plan of plans) {
    const result = configurations[plan.index];
    if (plan.modelError !== undefined || !plan.impl) {
      result.status = 'failed';
      result.reason = `model could not be loaded: ${plan.modelError ?? 'unknown error'}`;
    } else if (!plan.backendImpl || !plan.detection) {
      result.status = 'skipped';
      result.reason = `backend ${plan.backend} is not configured on this server`;
    } else if (!plan.detection.available) {
      result.status = 'skipped';
      result.reason = plan.detection.reason ?? `backend ${plan.backend} is not available`;
    } else if (plan.impl.supportedBackends && !plan.impl.supportedBackends.includes(plan.backend)) {
      result.status = 'skipped';
      result.reason = `the implementation was generated for ${plan.impl.supportedBackends.join(', ')} only`;
    } else {
      const key = `${plan.ref.name}\u0000${plan.backend}`;
      let session = sessions.get(key);
      if (!session) {
        session = { impl: plan.impl, backend: plan.backendImpl, rssBefore: 0 };
        sessions.set(key, session);
      }
      slots.push({ plan, result, session, lat: [], peak: 0, rssBefore: 0 });
    }
  }

  const reporter = new Reporter(ctx.onProgress, plans.length, settings.rounds);
  const units = slots.length * settings.rounds;
  let done = 0;
  try {
    // Rounds: every runnable configuration once per round, forward in even rounds and backward in odd
    // ones (ABBA order), so a slow drift of the machine weighs on every configuration alike.
    for (let round = 0; round < settings.rounds; round++) {
      const order = round % 2 === 0 ? slots : [...slots].reverse();
      for (const slot of order) {
        throwIfAborted(signal);
        if (slot.result.status === 'ok') {
          await runRound(slot, round, settings, reporter, done, units, signal);
        }
        done++;
      }
    }
    for (const slot of slots) {
      if (slot.result.status !== 'ok') continue;
      finish(slot);
      if (settings.include_preprocessing && slot.plan.seq !== null && slot.session.handle?.encode) {
        throwIfAborted(signal);
        await preprocessingOf(slot, settings, reporter, signal);
      }
    }
  } finally {
    for (const session of sessions.values()) {
      if (session.handle) await session.handle.release().catch(() => undefined);
    }
  }
  for (const result of configurations) {
    reporter.report(units, units, 0, {
      configuration_index: result.index,
      label: result.label,
      phase: 'done',
      round: null,
      iterations: result.stats?.count ?? 0,
      running_median_ms: result.stats?.p50 ?? null,
    }, true); // prettier-ignore
  }

  return {
    environment: captureEnvironment({
      repoDir: deps.repoDir,
      detections: [...detections.values()].filter((d): d is BackendDetection => d !== undefined),
    }),
    settings,
    configurations,
    definitions: { ...METRIC_DEFINITIONS },
    paired: pairedComparisons(configurations),
    started_at,
    completed_at: new Date().toISOString(),
  };
}

/** One session per (model, backend), shared by that pair's configurations, open for the whole run. */
interface Session {
  impl: ModelImplementation;
  backend: HardwareBackend;
  handle?: ModelHandle;
  /** Why loading failed (every configuration of the session fails with it). */
  error?: string;
  load_ms?: number;
  /** The round the current handle was loaded for (reload_each_round). */
  loadedRound?: number;
  rssBefore: number;
}

interface Slot {
  plan: ConfigurationPlan;
  result: ConfigurationResult;
  session: Session;
  feeds?: Feeds;
  /**
   * One iteration on the session's current handle: run(feeds), or in generate mode one generate()
   * whose first-token and per-step times are kept when `record` is set.
   */
  step?: (record: boolean) => Promise<void>;
  /** generate mode: TTFT per measured generation, every later step, and steps by token index. */
  gen?: { ttft: number[]; steps: number[]; byToken: number[][] };
  /** Latencies of all rounds so far, in order. */
  lat: number[];
  peak: number;
  rssBefore: number;
}

/** The iterations and durations of one round: the run's settings shared out equally over the rounds. */
function roundBudget(settings: ResolvedSettings, round: number) {
  const r = settings.rounds;
  const share = (total: number) => Math.floor(total / r) + (round < total % r ? 1 : 0);
  const minIter = Math.max(1, share(settings.min_iterations));
  return {
    minIter,
    maxIter: Math.max(minIter, share(settings.max_iterations)),
    minNs: BigInt(Math.round((settings.min_duration_s / r) * 1e9)),
    maxNs: BigInt(Math.round((settings.max_duration_s / r) * 1e9)),
  };
}

function sampleRss(slot: Slot): number {
  const r = rssMb();
  if (r > slot.peak) slot.peak = r;
  return r;
}

/**
 * One round of one configuration: on its first round the session load (once per session), the timed
 * first inference and the full warm-up; on later rounds a short untimed re-warm (the other
 * configurations ran in between); then the round's measurement.
 */
async function runRound(
  slot: Slot,
  round: number,
  settings: ResolvedSettings,
  reporter: Reporter,
  done: number,
  units: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { plan, result, session } = slot;
  const label = result.label;
  const progress = (phase: BenchmarkProgressData['phase'], fraction: number, lat: number[], force = false) =>
    reporter.report(done, units, fraction, {
      configuration_index: plan.index,
      label,
      phase,
      round: phase === 'measure' ? round : null,
      iterations: lat.length,
      running_median_ms: runningMedian(lat),
    }, force); // prettier-ignore
  try {
    if (round === 0) {
      slot.rssBefore = rssMb();
      slot.peak = slot.rssBefore;
      progress('load', 0, [], true);
      // Inputs once, outside every timed region.
      slot.feeds = session.impl.makeInputs({
        batchSize: plan.batch,
        ...(plan.seq !== null ? { sequenceLength: plan.seq } : {}),
        seed: settings.seed,
      });
      slot.step = stepOf(slot, settings);
      if (session.error !== undefined) throw new Error(session.error);
      if (!session.handle) {
        const t0 = process.hrtime.bigint();
        try {
          session.handle = await session.impl.load({
            backend: session.backend.name,
            sessionOptions: session.backend.sessionOptions(),
          });
        } catch (err) {
          if (err instanceof CancelledError || signal?.aborted) throw err;
          session.error = errorMessage(err);
          throw err;
        }
        session.load_ms = elapsedMs(t0);
      }
      result.load_ms = session.load_ms ?? null;
      sampleRss(slot);
      throwIfAborted(signal);

      const t1 = process.hrtime.bigint();
      await slot.step(false);
      result.first_inference_ms = elapsedMs(t1);
      sampleRss(slot);
      await warmUp(slot, settings, signal, (fraction, warm) => progress('warmup', 0.3 * fraction, warm));
    } else {
      let rewarm = settings.round_warmup_iterations;
      if (settings.reload_each_round && session.loadedRound !== round) {
        // A fresh session for this round (memory placement and thread-pool state are then part of
        // the between-round spread, as they are of the between-run one); warmed like the first.
        const previous = session.handle;
        session.handle = undefined;
        await previous?.release().catch(() => undefined);
        if (session.error === undefined) {
          try {
            session.handle = await session.impl.load({
              backend: session.backend.name,
              sessionOptions: session.backend.sessionOptions(),
            });
          } catch (err) {
            if (err instanceof CancelledError || signal?.aborted) throw err;
            session.error = errorMessage(err);
          }
        }
        session.loadedRound = round;
        rewarm = Math.max(rewarm, settings.warmup.min_iterations, 1);
      }
      if (!session.handle) throw new Error(session.error ?? 'the session is not loaded');
      for (let i = 0; i < rewarm; i++) {
        if (signal?.aborted) throwIfAborted(signal);
        await slot.step!(false);
      }
    }

    // The round's measurement.
    const step = slot.step!;
    const { minIter, maxIter, minNs, maxNs } = roundBudget(settings, round);
    const lat: number[] = [];
    const start = process.hrtime.bigint();
    let nextTick = start + TICK_NS;
    let end = start;
    for (;;) {
      if (signal?.aborted) throwIfAborted(signal);
      const s = process.hrtime.bigint();
      await step(true);
      end = process.hrtime.bigint();
      lat.push(Number(end - s) / 1e6);
      const elapsed = end - start;
      if ((lat.length >= minIter && elapsed >= minNs) || elapsed >= maxNs || lat.length >= maxIter) break;
      if (end >= nextTick) {
        nextTick = end + TICK_NS;
        sampleRss(slot);
        const part = Math.min(lat.length / minIter, Number(elapsed) / Math.max(1, Number(minNs)));
        progress('measure', (round === 0 ? 0.3 : 0) + (round === 0 ? 0.7 : 1) * Math.min(1, part), lat);
      }
    }
    result.measure_duration_s = (result.measure_duration_s ?? 0) + Number(end - start) / 1e9;
    for (const v of lat) slot.lat.push(v);
    result.rounds.push({
      round,
      count: lat.length,
      median_ms: percentile(lat, 0.5),
      min_ms: Math.min(...lat),
    });
    sampleRss(slot);
    progress('measure', 1, lat, true);
  } catch (err) {
    if (err instanceof CancelledError || signal?.aborted) {
      throwIfAborted(signal);
      throw err;
    }
    result.status = 'failed';
    result.reason = round === 0 ? errorMessage(err) : `round ${round + 1}: ${errorMessage(err)}`;
    result.peak_rss_mb = slot.peak || null;
  }
}

/**
 * The iteration of a configuration. Latency mode: run(feeds). Generate mode: generate() of
 * max_new_tokens tokens (no EOS stop, so every iteration makes the same number) on the input_ids
 * of the configuration's seeded feeds; a model whose handle does not generate fails the
 * configuration with the reason.
 */
function stepOf(slot: Slot, settings: ResolvedSettings): (record: boolean) => Promise<void> {
  const { session } = slot;
  const feeds = slot.feeds!;
  if (settings.mode !== 'generate') return async () => void (await session.handle!.run(feeds));
  const ids = feeds.input_ids;
  if (ids === undefined || ids.dims.length !== 2) {
    throw new CoreError(
      ErrorCode.UNPROCESSABLE,
      'generate mode needs a model with input_ids [batch, sequence]',
    );
  }
  const [rows, width] = ids.dims as [number, number];
  const flat = Array.from(ids.data as ArrayLike<number | bigint>, Number);
  const prompt = Array.from({ length: rows }, (_, r) => flat.slice(r * width, (r + 1) * width));
  const maxNewTokens = settings.max_new_tokens!;
  const gen: NonNullable<Slot['gen']> = { ttft: [], steps: [], byToken: [] };
  slot.gen = gen;
  return async (record) => {
    const handle = session.handle!;
    if (typeof handle.generate !== 'function') {
      throw new CoreError(
        ErrorCode.UNPROCESSABLE,
        'this model does not generate: generate mode needs a generated implementation of a language model ' +
          '(text-generation or text2text-generation; registry ids and generated folders are)',
      );
    }
    const r = await handle.generate(prompt, { maxNewTokens, eosTokenId: [], decode: false });
    if (!record) return;
    gen.ttft.push(r.timings.prefillMs);
    [r.timings.prefillMs, ...r.timings.stepMs].forEach((ms, i) => (gen.byToken[i] ??= []).push(ms));
    for (const ms of r.timings.stepMs) gen.steps.push(ms);
  };
}

/** Warm-up after the first inference: until the last windows are steady, or a cap. */
async function warmUp(
  slot: Slot,
  settings: ResolvedSettings,
  signal: AbortSignal | undefined,
  onTick: (fraction: number, warm: number[]) => void,
): Promise<void> {
  const { result } = slot;
  const step = slot.step!;
  const w = settings.warmup;
  const warm: number[] = [];
  const warmStart = process.hrtime.bigint();
  const warmMaxNs = BigInt(Math.round(w.max_duration_s * 1e9));
  let nextTick = warmStart + TICK_NS;
  while (warm.length < w.max_iterations) {
    if (signal?.aborted) throwIfAborted(signal);
    const s = process.hrtime.bigint();
    await step(false);
    const e = process.hrtime.bigint();
    warm.push(Number(e - s) / 1e6);
    if (warm.length >= w.min_iterations) {
      const cv = windowedCv(warm, w.window_size, w.windows);
      if (cv !== undefined) result.warmup_cv = cv;
      if (cv !== undefined && cv <= w.steady_cv) {
        result.warmup_steady = true;
        break;
      }
    }
    if (e - warmStart >= warmMaxNs) break;
    if (e >= nextTick) {
      nextTick = e + TICK_NS;
      sampleRss(slot);
      onTick(Math.min(1, warm.length / Math.max(1, w.max_iterations)), warm);
    }
  }
  result.warmup_iterations = warm.length;
}

/** Statistics over all rounds of a configuration that measured every round. */
function finish(slot: Slot): void {
  const { result, plan } = slot;
  const lat = slot.lat;
  const stats = summarize(lat);
  const wallS = result.measure_duration_s ?? 0;
  result.latencies_ms = lat;
  result.stats = stats;
  result.round_medians_ms = result.rounds.map((r) => r.median_ms);
  result.noise_cv =
    result.round_medians_ms.length >= 2 ? coefficientOfVariation(result.round_medians_ms) : null;
  result.throughput_items_per_sec = stats.p50 > 0 ? plan.batch / (stats.p50 / 1000) : null;
  result.throughput_wall_items_per_sec = wallS > 0 ? (plan.batch * lat.length) / wallS : null;
  const rssAfter = sampleRss(slot);
  result.peak_rss_mb = slot.peak;
  result.rss_growth_mb = rssAfter - slot.rssBefore;
  if (slot.gen && slot.gen.ttft.length > 0) {
    const { ttft, steps, byToken } = slot.gen;
    const maxNew = byToken.length;
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const tpot = steps.length > 0 ? summarize(steps) : summarize(ttft);
    result.generation = {
      max_new_tokens: maxNew,
      prompt_length: plan.seq ?? 0,
      ttft_ms: summarize(ttft),
      tpot_ms: tpot,
      e2e_ms: stats,
      tokens_per_s: {
        decode: (plan.batch * 1000) / tpot.mean,
        total: (plan.batch * maxNew * 1000) / stats.mean,
      },
    };
    result.per_token_ms = byToken.map(mean);
  }
}

async function preprocessingOf(
  slot: Slot,
  settings: ResolvedSettings,
  reporter: Reporter,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { result, plan } = slot;
  try {
    result.preprocessing = await measurePreprocessing(
      slot.session.handle!,
      plan.batch,
      plan.seq!,
      settings,
      signal,
      (_n, l) =>
        reporter.report(1, 1, 0, {
          configuration_index: plan.index,
          label: result.label,
          phase: 'preprocessing',
          round: null,
          iterations: l.length,
          running_median_ms: runningMedian(l),
        }),
    );
    sampleRss(slot);
    result.peak_rss_mb = slot.peak;
  } catch (err) {
    if (err instanceof CancelledError || signal?.aborted) {
      throwIfAborted(signal);
      throw err;
    }
    result.status = 'failed';
    result.reason = `preprocessing: ${errorMessage(err)}`;
  }
}

async function measurePreprocessing(
  handle: ModelHandle,
  batch: number,
  seq: number,
  settings: ResolvedSettings,
  signal: AbortSignal | undefined,
  onTick: (fraction: number, latencies: number[]) => void,
): Promise<PreprocessingResult> {
  const encode = handle.encode!.bind(handle);
  const opts = { maxLength: seq, padding: 'max_length' as const, truncation: true };
  // Enough words that every sentence tokenizes to at least `seq` tokens (then truncation cuts it to seq):
  // start at seq words and double until the attention mask (when there is one) is full on every row.
  let words = seq;
  let texts = seededSentences(batch, words, settings.seed);
  for (let attempt = 0; attempt < 4; attempt++) {
    const probe = await encode(texts, opts);
    const mask = probe['attention_mask'];
    if (!mask) break;
    const data = mask.data as ArrayLike<number | bigint>;
    let filled = 0;
    for (let i = 0; i < data.length; i++) if (Number(data[i]) !== 0) filled++;
    if (filled >= batch * seq) break;
    words *= 2;
    texts = seededSentences(batch, words, settings.seed);
  }
  // One untimed pass of the pipeline so the tokenizer's lazy state is warm too.
  await handle.run(await encode(texts, opts));

  const pipeline: number[] = [];
  const tokenize: number[] = [];
  const minNs = BigInt(Math.round(settings.min_duration_s * 1e9));
  const maxNs = BigInt(Math.round(settings.max_duration_s * 1e9));
  const start = process.hrtime.bigint();
  let nextTick = start + TICK_NS;
  for (;;) {
    if (signal?.aborted) throwIfAborted(signal);
    const s = process.hrtime.bigint();
    const feeds = await encode(texts, opts);
    const m = process.hrtime.bigint();
    await handle.run(feeds);
    const e = process.hrtime.bigint();
    pipeline.push(Number(e - s) / 1e6);
    tokenize.push(Number(m - s) / 1e6);
    const elapsed = e - start;
    const n = pipeline.length;
    if (
      (n >= settings.min_iterations && elapsed >= minNs) ||
      elapsed >= maxNs ||
      n >= settings.max_iterations
    )
      break;
    if (e >= nextTick) {
      nextTick = e + TICK_NS;
      onTick(
        Math.min(1, n / settings.min_iterations, Number(elapsed) / Math.max(1, Number(minNs))),
        pipeline,
      );
    }
  }
  const stats = summarize(pipeline);
  return {
    pipeline: stats,
    tokenize: summarize(tokenize),
    throughput_items_per_sec: batch / (stats.p50 / 1000),
    latencies_ms: pipeline,
    words_per_sentence: words,
  };
}
