import { existsSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Global, Injectable, Module } from '@nestjs/common';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import { cachedModelDir } from '../../../libs/core/src/generator/model-cache';
import {
  dimsFromConfig,
  estimateMemory,
  estimateMemoryFromFiles,
  filesBytes,
  generationDiskBytes,
  MemoryEstimate,
  minBenchmarkSeconds,
  ModelDims,
  Precision,
  Shape,
} from '../../../libs/core/src/models/estimate';
import { resolveModel } from '../../../libs/core/src/models/registry';
import { DEFAULT_SEQUENCE_LENGTH } from '../../../libs/core/src/models/inputs';
import {
  DEFAULT_BATCH_SIZES,
  DEFAULT_SEQUENCE_LENGTHS,
  REFERENCE_BATCH,
} from '../../../libs/core/src/testing/run-tests';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { ModelResolver, ModelSource } from '../models/model-resolver.service';

const GiB = 2 ** 30;
const gib = (bytes: number) => Math.round((bytes / GiB) * 100) / 100;

/** What a model name weighs: its dimensions when a config is known, its files' bytes, its disk to write. */
interface ModelFacts {
  name: string;
  dims?: ModelDims;
  /** Bytes of the model's files on disk, when it is a file. */
  modelBytes?: number;
  /** Bytes an on-demand generation would write first (a registry model not cached yet). */
  diskBytes: number;
}

/** The request fields admission reads (the suites' DTOs have them). */
export interface TestAdmission {
  model_name: string;
  test_type: string;
  batch_sizes?: number[];
  sequence_lengths?: number[];
}
export interface BenchmarkAdmission {
  models: string[];
  hardware: string[];
  batch_sizes: number[];
  sequence_lengths: number[];
  min_duration_s: number;
  timeout: number;
}
export interface GenerationAdmission {
  model_name: string;
  precision?: Precision;
  /** The source's config (GeneratorService.validate resolved it). */
  config: Record<string, unknown>;
}

/**
 * Budgets: before an operation is stored, its peak memory, the disk it writes and its
 * shortest duration are estimated (libs/core/src/models/estimate.ts) and checked against the
 * budgets (MEMORY_BUDGET, DISK_MIN_FREE, the request's timeout): 422 BUDGET_EXCEEDED naming the
 * limit, the estimate and the budget otherwise.
 */
@Injectable()
export class BudgetService {
  /** Manifests and configs read at accept time, by path while unchanged (size, mtime). */
  private readonly configs = new Map<string, { stamp: string; config?: Record<string, unknown> }>();

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly models: ModelResolver,
  ) {}

  /** A test run: one session at a time, the largest shape of its grid. */
  admitTest(request: TestAdmission): void {
    const facts = this.facts(request.model_name, this.models.accepts(request.model_name));
    const shapes: Shape[] = [{ batchSize: REFERENCE_BATCH, sequenceLength: DEFAULT_SEQUENCE_LENGTH }];
    if (request.test_type === 'comprehensive') {
      for (const b of request.batch_sizes?.length ? request.batch_sizes : DEFAULT_BATCH_SIZES)
        for (const s of request.sequence_lengths?.length
          ? request.sequence_lengths
          : DEFAULT_SEQUENCE_LENGTHS)
          shapes.push({ batchSize: b, sequenceLength: s });
    }
    this.checkMemory([facts], shapes);
    this.checkDisk([facts]);
  }

  /** A benchmark: the largest shape of any model, the on-demand models to generate, configurations × min duration. */
  admitBenchmark(request: BenchmarkAdmission): void {
    const configurations =
      request.models.length *
      request.hardware.length *
      request.batch_sizes.length *
      request.sequence_lengths.length;
    const seconds = minBenchmarkSeconds(configurations, request.min_duration_s);
    if (seconds > request.timeout) {
      throw new CoreError(
        ErrorCode.BUDGET_EXCEEDED,
        `the benchmark needs at least ${seconds} s (${configurations} configurations × min_duration_s ${request.min_duration_s} s), more than its timeout of ${request.timeout} s`,
        {
          limit: 'duration',
          estimate_s: seconds,
          budget_s: request.timeout,
          configurations,
          min_duration_s: request.min_duration_s,
        },
      );
    }
    const facts = request.models.map((name) => this.facts(name, this.models.accepts(name)));
    const shapes: Shape[] = [];
    for (const b of request.batch_sizes)
      for (const s of request.sequence_lengths) shapes.push({ batchSize: b, sequenceLength: s });
    // fp32 weights: an on-demand model is cached in fp32 whatever precision is asked for. The rounds
    // interleave every configuration, so one session per model and backend stays open for the run:
    // every model's weights count at once (host memory: a GPU session's weights live on the device).
    this.checkMemory(facts, shapes);
    this.checkDisk(facts);
  }

  /** Generations (one, or a batch: the disk of all items is summed). */
  admitGenerations(requests: readonly GenerationAdmission[]): void {
    const facts: ModelFacts[] = requests.map((r) => {
      const dims = dimsFromConfig(r.config);
      return { name: r.model_name, dims, diskBytes: dims ? generationDiskBytes(dims, r.precision) : 0 };
    });
    this.checkDisk(facts);
  }

  /** Free space on DATA_DIR's filesystem minus what DISK_MIN_FREE keeps, bytes. */
  diskBudget(): { budget: number; available: number; reserve: number } {
    let dir = this.config.dataDir;
    while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
    const fs = statfsSync(dir);
    const available = fs.bavail * fs.bsize;
    const min = this.config.admission.diskMinFree;
    const reserve = 'bytes' in min ? min.bytes : Math.ceil(min.fraction * fs.blocks * fs.bsize);
    return { budget: Math.max(0, available - reserve), available, reserve };
  }

  /** The worst model's estimate, with the weights of every other model (held open meanwhile) added. */
  private checkMemory(facts: ModelFacts[], shapes: Shape[]): void {
    let worst: { name: string; estimate: MemoryEstimate } | undefined;
    let allWeights = 0;
    for (const f of facts) {
      const estimate = f.dims
        ? estimateMemory(f.dims, shapes, { modelBytes: f.modelBytes || undefined })
        : estimateMemoryFromFiles(f.modelBytes ?? 0);
      allWeights += estimate.weights_bytes;
      if (!worst || estimate.total_bytes > worst.estimate.total_bytes) worst = { name: f.name, estimate };
    }
    if (worst && allWeights > worst.estimate.weights_bytes) {
      const e = worst.estimate;
      worst = {
        name:
          facts.length > 1 ? `${worst.name} (with ${facts.length - 1} other model(s) held open)` : worst.name,
        estimate: {
          ...e,
          weights_bytes: allWeights,
          total_bytes: e.total_bytes - e.weights_bytes + allWeights,
        },
      };
    }
    const budget = this.config.admission.memoryBytes;
    if (!worst || worst.estimate.total_bytes <= budget) return;
    const e = worst.estimate;
    throw new CoreError(
      ErrorCode.BUDGET_EXCEEDED,
      `${worst.name} at batch ${e.batch_size} × sequence ${e.sequence_length} needs an estimated ${gib(e.total_bytes)} GiB of memory, more than the memory budget of ${gib(budget)} GiB (MEMORY_BUDGET)`,
      {
        limit: 'memory',
        model: worst.name,
        estimate_bytes: e.total_bytes,
        budget_bytes: budget,
        breakdown: {
          weights_bytes: e.weights_bytes,
          activation_bytes: e.activation_bytes,
          arena_bytes: e.arena_bytes,
          runtime_bytes: e.runtime_bytes,
        },
        batch_size: e.batch_size,
        sequence_length: e.sequence_length,
        basis: e.basis,
      },
    );
  }

  private checkDisk(facts: ModelFacts[]): void {
    const estimate = facts.reduce((sum, f) => sum + f.diskBytes, 0);
    if (estimate === 0) return;
    const { budget, available, reserve } = this.diskBudget();
    if (estimate <= budget) return;
    throw new CoreError(
      ErrorCode.BUDGET_EXCEEDED,
      `writing ${facts.length > 1 ? `${facts.length} models` : facts[0]!.name} needs an estimated ${gib(estimate)} GiB of disk, more than the ${gib(budget)} GiB DATA_DIR may still use (${gib(available)} GiB free, ${gib(reserve)} GiB kept free by DISK_MIN_FREE)`,
      {
        limit: 'disk',
        estimate_bytes: estimate,
        budget_bytes: budget,
        available_bytes: available,
        reserve_bytes: reserve,
        items: facts.filter((f) => f.diskBytes > 0).map((f) => ({ model: f.name, bytes: f.diskBytes })),
      },
    );
  }

  /** On-demand registry models are cached once per id, with seed 0 (ModelResolver.acquireForRun). */
  private facts(name: string, source: ModelSource): ModelFacts {
    if (source.kind === 'registry') {
      const dims = dimsFromConfig(source.config);
      const cached = existsSync(
        join(cachedModelDir(this.models.cacheDir, resolveModel(source.id), 0), 'manifest.json'),
      );
      return { name, dims, diskBytes: cached || !dims ? 0 : generationDiskBytes(dims) };
    }
    const r = source.resolved;
    const onnx = r.kind === 'onnx-file' ? r.path : join(r.dir, 'model.onnx');
    const modelBytes = filesBytes([onnx, `${onnx}.data`]);
    const config =
      r.kind === 'module'
        ? this.readConfig(join(r.dir, 'manifest.json'), 'manifest')
        : r.configPath
          ? this.readConfig(r.configPath, 'config')
          : undefined;
    return { name, dims: config ? dimsFromConfig(config) : undefined, modelBytes, diskBytes: 0 };
  }

  private readConfig(path: string, kind: 'manifest' | 'config'): Record<string, unknown> | undefined {
    let stamp: string;
    try {
      const st = statSync(path);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      return undefined;
    }
    const hit = this.configs.get(path);
    if (hit?.stamp === stamp) return hit.config;
    let config: Record<string, unknown> | undefined;
    try {
      const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      config = kind === 'manifest' ? (json.config as Record<string, unknown> | undefined) : json;
    } catch {
      config = undefined; // unreadable: estimated from the files alone
    }
    this.configs.delete(path);
    this.configs.set(path, { stamp, config });
    if (this.configs.size > 256) this.configs.delete(this.configs.keys().next().value!);
    return config;
  }
}

/** BudgetService for every suite. */
@Global()
@Module({ providers: [BudgetService], exports: [BudgetService] })
export class BudgetModule {}
