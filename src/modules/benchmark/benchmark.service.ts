import { readFileSync } from 'node:fs';
import { Injectable } from '@nestjs/common';
import {
  BenchmarkRequest,
  BenchmarkResult,
  compareRuns,
  ComparisonResult,
  ConfigurationResult,
  pairedComparisons,
  resolveSettings,
  DEFAULT_MAX_NEW_TOKENS,
  RoundStatistic,
  runBenchmarkIsolated,
  toCsv,
  toJUnit,
  toMarkdown,
  comparisonMarkdown,
} from '../../../libs/core/src/benchmark';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import { cidOfFile } from '../../../libs/core/src/generator/manifest';
import type { ResolvedModelPath } from '../../../libs/core/src/models/paths';
import type { RunContext } from '../../../libs/core/src/types';
import { BudgetService } from '../../common/admission/budget.service';
import { AppConfig } from '../../common/config/app-config';
import { InjectConfig } from '../../common/config/config.module';
import { JobName } from '../../common/jobs/job.types';
import { ModelLease, ModelResolver, ModelSource } from '../../common/models/model-resolver.service';
import { OperationRecord } from '../../common/operations/operation.types';
import { AdmissionService } from '../../common/operations/admission.service';
import { OperationsService } from '../../common/operations/operations.service';
import { BenchmarkRepository } from './benchmark.repository';
import {
  BenchmarkResultsDto,
  BenchmarkRowDto,
  BENCHMARK_DEFAULT_TIMEOUT_S,
  BenchmarkRunsQueryDto,
  ComparisonDto,
  CompareQueryDto,
  RunBenchmarkRequestDto,
} from './benchmark.dto';

/** What the benchmark job stores as its result. */
export interface StoredBenchmark extends BenchmarkResult {
  tags: string[];
  model_cids: Record<string, string | null>;
  comparison?: ComparisonResult & { baseline_run_id: string };
}

/** The measurement settings of a request, as the core takes them (defaults filled as stored). */
function coreSettings(request: RunBenchmarkRequestDto): Omit<BenchmarkRequest, 'models'> {
  return {
    hardware: request.hardware,
    batch_sizes: request.batch_sizes,
    sequence_lengths: request.sequence_lengths,
    precision: request.precision ?? 'fp32',
    warmup: {
      min_iterations: request.warmup?.min_iterations ?? 5,
      max_iterations: request.warmup?.max_iterations ?? 200,
      steady_cv: request.warmup?.steady_cv ?? 0.1,
    },
    min_iterations: request.min_iterations,
    min_duration_s: request.min_duration_s,
    max_duration_s: request.max_duration_s,
    rounds: request.rounds,
    round_warmup_iterations: request.round_warmup_iterations,
    reload_each_round: request.reload_each_round,
    seed: request.seed,
    include_preprocessing: request.include_preprocessing,
    mode: request.mode,
    max_new_tokens: request.mode === 'generate' ? request.max_new_tokens : undefined,
    // A generation is long: a light warm-up unless the request says otherwise.
    ...(request.mode === 'generate' && request.warmup === undefined
      ? { warmup: { min_iterations: 1, max_iterations: 3, steady_cv: 0.1 } }
      : {}),
  };
}

function maxPositions(source: ModelSource): number | undefined {
  let config: Record<string, unknown> | undefined;
  if (source.kind === 'registry') config = source.config;
  else if (source.resolved.configPath) {
    try {
      config = JSON.parse(readFileSync(source.resolved.configPath, 'utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }
  const n = config?.max_position_embeddings ?? config?.n_positions;
  return typeof n === 'number' ? n : undefined;
}

@Injectable()
export class BenchmarkService {
  constructor(
    private readonly operations: OperationsService,
    private readonly models: ModelResolver,
    private readonly rows: BenchmarkRepository,
    private readonly admission: AdmissionService,
    private readonly budgets: BudgetService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  private modelNames(request: RunBenchmarkRequestDto): string[] {
    if (request.model_name && request.models) {
      throw new CoreError(ErrorCode.VALIDATION, 'give either model_name or models, not both');
    }
    const names = request.models ?? (request.model_name ? [request.model_name] : []);
    if (names.length === 0) throw new CoreError(ErrorCode.VALIDATION, 'model_name or models is required');
    return names;
  }

  /** Validates what the DTO cannot (models exist, sequences fit the positions), then accepts the run. */
  async start(request: RunBenchmarkRequestDto): Promise<{ op: OperationRecord; configurations: number }> {
    const names = this.modelNames(request);
    if (request.mode !== 'generate' && request.max_new_tokens !== undefined) {
      throw new CoreError(ErrorCode.VALIDATION, 'max_new_tokens is only for mode generate', {
        field: 'max_new_tokens',
      });
    }
    for (const name of names) {
      this.models.checkPrecision(name, request.precision);
      const positions = maxPositions(this.models.accepts(name));
      if (request.mode === 'generate' && positions !== undefined) {
        const newTokens = request.max_new_tokens ?? DEFAULT_MAX_NEW_TOKENS;
        const longest = Math.max(...request.sequence_lengths);
        if (longest + newTokens > positions) {
          throw new CoreError(
            ErrorCode.VALIDATION,
            `a prompt of ${longest} tokens plus max_new_tokens ${newTokens} exceeds ${name}'s context of ${positions} positions`,
            { field: 'max_new_tokens', max: positions - longest },
          );
        }
      }
      const tooLong = request.sequence_lengths.filter((s) => positions !== undefined && s > positions);
      if (tooLong.length) {
        throw new CoreError(
          ErrorCode.VALIDATION,
          `sequence_lengths ${tooLong.join(', ')} exceed ${name}'s ${positions} positions`,
          { field: 'sequence_lengths', max: positions },
        );
      }
    }
    const timeout = this.admission.timeout(request.timeout, BENCHMARK_DEFAULT_TIMEOUT_S);
    if (request.baseline_run_id) await this.storedResult(request.baseline_run_id);
    // The core's own checks (iteration caps, warm-up and duration bounds), with the same defaults
    // the job will pass: whatever the core would refuse is a 400 now, not a failed run later.
    resolveSettings({ ...coreSettings(request), models: [] });
    // A benchmark measures every backend it names: one that cannot run is a 422, not a skipped row.
    await this.admission.requireBackends('benchmark', request.hardware, 'all');
    this.budgets.admitBenchmark({ ...request, models: names, timeout });
    const op = await this.operations.start(JobName.BenchmarkRun, names.join(','), {
      ...request,
      timeout,
      models: names,
      model_name: undefined,
    });
    const configurations =
      names.length * request.hardware.length * request.batch_sizes.length * request.sequence_lengths.length;
    return { op, configurations };
  }

  /** The job: measure in a worker thread, store one row per configuration, compare with the baseline. */
  async execute(op: OperationRecord, ctx: RunContext): Promise<StoredBenchmark> {
    const request = op.request as unknown as RunBenchmarkRequestDto & { models: string[] };
    // Registry models come from the on-demand cache at seed 0 (the request's seed seeds the inputs
    // only), held until the run ends so they are not evicted meanwhile.
    const leases: ModelLease[] = [];
    try {
      for (const name of request.models)
        leases.push(await this.models.acquireForRun(name, ctx, request.precision));
      const resolved = request.models.map((name, i) => ({
        name,
        path: leases[i]!.resolved,
        precision: leases[i]!.precision ?? request.precision ?? 'unknown',
        graph: leases[i]!.graph ?? 'unknown',
      }));
      return await this.measure(op, ctx, resolved);
    } finally {
      for (const lease of leases) lease.release();
    }
  }

  private async measure(
    op: OperationRecord,
    ctx: RunContext,
    resolved: Array<{ name: string; path: ResolvedModelPath; precision: string; graph: string }>,
  ): Promise<StoredBenchmark> {
    const request = op.request as unknown as RunBenchmarkRequestDto & { models: string[] };
    // Content ids first: what is measured is what they name (comparisons match on them).
    const model_cids: Record<string, string | null> = {};
    for (const { name, path } of resolved) {
      model_cids[name] = await this.modelCid(path);
    }
    const coreRequest: BenchmarkRequest = {
      ...coreSettings(request),
      models: resolved.map(({ name, path, precision, graph }) => ({
        name,
        kind: path.kind,
        path: path.path,
        precision,
        graph,
      })),
    };
    const result = await runBenchmarkIsolated(coreRequest, {
      onProgress: ctx.onProgress,
      signal: ctx.signal,
      repoDir: process.cwd(),
      backendOptions: { detectTimeoutMs: this.config.detectTimeoutMs, environment: this.config.environment },
    });
    const verdictOptions = {
      threshold: request.threshold,
      confidence: request.confidence,
      statistic: request.statistic,
    };
    const configurations = result.configurations.map((c) => ({
      ...c,
      model_id: model_cids[c.model] ?? null,
    }));
    const stored: StoredBenchmark = {
      ...result,
      configurations,
      paired: pairedComparisons(configurations, verdictOptions),
      tags: request.tags,
      model_cids,
    };
    if (request.baseline_run_id) {
      const baseline = await this.storedResult(request.baseline_run_id);
      stored.comparison = {
        ...compareRuns(baseline, stored, {
          ...verdictOptions,
          runNoiseCv: request.run_noise_cv,
          history: await this.historyOf(baseline, op.id, stored.completed_at),
        }),
        baseline_run_id: request.baseline_run_id,
      };
    }
    await this.rows.saveRun(op.id, result, request.tags, model_cids);
    return stored;
  }

  private async modelCid(path: ResolvedModelPath): Promise<string | null> {
    if (path.kind === 'module') {
      try {
        const manifest = JSON.parse(readFileSync(`${path.dir}/manifest.json`, 'utf8')) as { cid?: string };
        return manifest.cid ?? null;
      } catch {
        return null;
      }
    }
    return (await cidOfFile(path.path)).cid;
  }

  /** A stored result; configurations stored before `model_id` existed get it from `model_cids`. */
  private async storedResult(id: string): Promise<StoredBenchmark> {
    const { result } = await this.operations.result('benchmark', id);
    const stored = result as StoredBenchmark;
    const cids = stored.model_cids ?? {};
    return {
      ...stored,
      configurations: stored.configurations.map((c) =>
        c.model_id === undefined ? { ...c, model_id: cids[c.model] ?? null } : c,
      ),
    };
  }

  async results(
    id: string,
    format: 'json' | 'csv' | 'markdown' | 'junit' = 'json',
  ): Promise<BenchmarkResultsDto | string> {
    const result = await this.storedResult(id);
    if (format === 'csv') return toCsv(result);
    if (format === 'markdown') return toMarkdown(result);
    if (format === 'junit') return toJUnit(result, result.comparison);
    const first = result.configurations.find((c) => c.status === 'ok');
    const {
      tags,
      configurations,
      environment,
      settings,
      definitions,
      comparison,
      paired,
      started_at,
      completed_at,
    } = result;
    return {
      run_id: id,
      latency_ms: first?.stats?.p50 ?? null,
      throughput: first?.throughput_items_per_sec ?? null,
      environment,
      ...(settings ? { settings: settings as unknown as Record<string, unknown> } : {}),
      configurations,
      definitions,
      ...(comparison ? { comparison: comparison as unknown as Record<string, unknown> } : {}),
      paired: paired ?? [],
      tags,
      started_at,
      completed_at,
    };
  }

  runs(query: BenchmarkRunsQueryDto): Promise<BenchmarkRowDto[]> {
    return this.rows.list({ ...query, limit: query.limit ?? 100 });
  }

  /** The comparison as JSON, or rendered as Markdown or JUnit XML (`format`). */
  async compareRendered(query: CompareQueryDto): Promise<ComparisonDto | string> {
    const dto = await this.compare(query);
    if (!query.format || query.format === 'json') return dto;
    const c = dto as unknown as ComparisonResult;
    if (query.format === 'markdown') return comparisonMarkdown(c);
    const candidate = await this.storedResult(query.candidate);
    return toJUnit({ ...candidate, configurations: [], paired: [] }, c);
  }

  /**
   * The run-level medians of earlier runs of each of the baseline's configurations (by content id),
   * for the between-run noise of a comparison; the candidate itself is left out.
   */
  private async historyOf(
    baseline: BenchmarkResult,
    candidateId: string,
    before: string,
  ): Promise<(c: ConfigurationResult, statistic: RoundStatistic) => readonly number[] | undefined> {
    const found = new Map<ConfigurationResult, Array<{ median: number; min: number | null }>>();
    await Promise.all(
      baseline.configurations.map(async (c) => {
        if (!c.model_id || c.status !== 'ok') return;
        const key = {
          model_cid: c.model_id,
          backend: c.backend,
          batch_size: c.batch_size,
          sequence_length: c.sequence_length,
        };
        found.set(c, await this.rows.history(key, candidateId, before));
      }),
    );
    // Minima for `min` (a run without one is left out), medians for `median`.
    return (c, statistic) =>
      found
        .get(c)
        ?.map((h) => (statistic === 'min' ? h.min : h.median))
        .filter((v): v is number => v !== null);
  }

  async compare(query: CompareQueryDto): Promise<ComparisonDto> {
    const { baseline: baselineId, candidate: candidateId, threshold, alpha } = query;
    if (query.confidence !== undefined && alpha !== undefined) {
      throw new CoreError(ErrorCode.VALIDATION, 'give confidence or alpha (= 1 - confidence), not both', {
        field: 'alpha',
      });
    }
    const confidence = query.confidence ?? (alpha !== undefined ? 1 - alpha : undefined);
    const [baseline, candidate] = await Promise.all([
      this.storedResult(baselineId),
      this.storedResult(candidateId),
    ]);
    const c = compareRuns(baseline, candidate, {
      threshold,
      confidence,
      statistic: query.statistic,
      runNoiseCv: query.run_noise_cv,
      history: await this.historyOf(baseline, candidateId, candidate.completed_at),
    });
    return {
      verdict: c.verdict,
      reason: c.reason,
      threshold: c.threshold,
      confidence: c.confidence,
      statistic: c.statistic,
      configurations: c.configurations,
      unmatched: c.unmatched,
      baseline_run_id: baselineId,
      candidate_run_id: candidateId,
    };
  }
}
