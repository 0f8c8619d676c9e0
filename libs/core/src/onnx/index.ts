/**
 * buildOnnxModel: a Hugging Face config (+ optional safetensors checkpoint) → model.onnx with every
 * weight in model.onnx.data, built by the family module registered for the config's model_type.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoreError, ErrorCode, throwIfAborted } from '../errors';
import type { BackendName, TensorSpec } from '../types';
import type { ModelFamily } from '../models/registry';
import { ConfigReader, type HfConfig } from './config';
import { buildableModelTypes, familyModuleFor, type FamilyModule, type GraphFlavour } from './families';
import { runsAllNatively, runsNatively } from './contrib-ops';
import {
  backendGraphFile,
  DATA_FILE,
  DEFAULT_INT4_BLOCK_SIZE,
  GraphBuilder,
  MODEL_FILE,
  type Precision,
} from './graph';
import { id2label, isPoolingSpec, resolveTask, tasksFor, type PoolingSpec, type Task } from './tasks';
import { ShapeOnlyWeights, createWeightSource } from './weights';

export * from './graph';
export * from './weights';
export * from './contrib-ops';
export * from './tasks';
export { ConfigReader, type HfConfig } from './config';
export { FAMILY_MODULES, buildableModelTypes, familyModuleFor } from './families';
export { GRAPH_FLAVOURS, type FamilyContext, type FamilyModule, type GraphFlavour } from './families';

export interface BuildOnnxOptions {
  /** Hugging Face config.json (with model_type). */
  config: Record<string, unknown>;
  outDir: string;
  weights: 'random' | 'safetensors';
  /** model.safetensors, every shard, or model.safetensors.index.json. */
  safetensorsPaths?: string[];
  precision?: Precision;
  /** int4: values per MatMulNBits quantization block (16, 32, 64, 128 or 256; default 32). */
  blockSize?: number;
  /** The head (optimum task name); default: the one the config's architectures name. */
  task?: string;
  /** sentence-transformers pooling (feature-extraction only): adds a `sentence_embedding` output. */
  pooling?: PoolingSpec;
  /**
   * Causal decoders: the KV-cache graph (optimum's "with past" inputs and outputs) instead of the
   * full-sequence graph. Default: true for the text-generation task, which is what generation uses.
   */
  kvCache?: boolean;
  /**
   * `optimized`: onnxruntime's fused contrib ops (MultiHeadAttention, SkipLayerNormalization, ...;
   * every precision); `portable`: standard ONNX ops only. Default: optimized when `backends`
   * holds a GPU and the model has that graph, else portable (resolveGraphFlavour).
   */
  graph?: GraphFlavour;
  /**
   * The backends the model is built for (default: cpu). Where one lacks an op of the graph and a
   * fallback exists (int8 on cuda and webgpu: MatMulNBits with bits 8 in place of
   * DynamicQuantizeMatMul), that backend gets its own graph file, `model.<backend>.onnx`.
   */
  backends?: BackendName[];
  /** Seed of random weights. */
  seed?: number;
  onProgress?: (fraction: number, step: string) => void;
  signal?: AbortSignal;
}

export interface BuildOnnxResult {
  onnxPath: string;
  dataPath: string;
  family: ModelFamily;
  /** The head that was built. */
  task: Task;
  /** Whether the graph takes and returns a KV cache. */
  kvCache: boolean;
  /** The graph flavour that was built. */
  graph: GraphFlavour;
  /** The com.microsoft ops model.onnx uses (contrib-ops.ts says which backends run them). */
  contribOps: string[];
  /** Per backend built for: the graph file it loads (beside model.onnx) and that graph's contrib ops. */
  backendGraphs: Partial<Record<BackendName, BackendGraph>>;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Elements in the model's weights. */
  parameters: number;
  /** Bytes written (model.onnx + model.onnx.data). */
  bytesWritten: number;
}

/** The graph one backend loads. */
export interface BackendGraph {
  /** model.onnx, or model.<backend>.onnx. */
  file: string;
  contribOps: string[];
}

function moduleAndTask(
  config: Record<string, unknown>,
  task: string | undefined,
  pooling: PoolingSpec | undefined,
): { modelType: string; module: FamilyModule; task: Task } {
  const modelType = typeof config.model_type === 'string' ? config.model_type : undefined;
  if (!modelType) throw new CoreError(ErrorCode.INVALID_MODEL, 'config has no model_type');
  const module = familyModuleFor(modelType);
  if (!module) {
    throw new CoreError(
      ErrorCode.UNKNOWN_MODEL,
      `no ONNX builder for model_type "${modelType}"; supported: ${buildableModelTypes().join(', ')}`,
    );
  }
  const resolved = resolveTask(config, task);
  if (pooling !== undefined) {
    if (!isPoolingSpec(pooling)) throw new CoreError(ErrorCode.VALIDATION, 'pooling: invalid pooling spec');
    if (resolved !== 'feature-extraction' || !tasksFor(modelType).includes('fill-mask')) {
      throw new CoreError(
        ErrorCode.UNPROCESSABLE,
        `sentence pooling applies to text encoders with the feature-extraction task, not ${modelType} ${resolved}`,
      );
    }
  }
  return { modelType, module, task: resolved };
}

/** Which families build a KV-cache graph (and for which task). */
export function supportsKvCache(family: ModelFamily, task: Task): boolean {
  return (
    (family === 'decoder' && task === 'text-generation') ||
    (family === 'encoder-decoder' && task === 'text2text-generation')
  );
}

/** The KV-cache choice of a build: the request's when given (and possible), else on for generation. */
export function resolveKvCache(module: FamilyModule, task: Task, requested: boolean | undefined): boolean {
  const possible = supportsKvCache(module.family, task);
  if (requested === true && !possible) {
    throw new CoreError(
      ErrorCode.UNPROCESSABLE,
      `kv_cache: a ${module.family} model with the ${task} task has no KV-cache graph ` +
        `(causal language models with the text-generation task and T5 with text2text-generation have one)`,
    );
  }
  return requested ?? possible;
}

/**
 * The graph flavour of a build: `optimized` where the family has fused contrib ops (a 422 naming why
 * otherwise), in every precision. Left out, what serves the target backends best: `optimized` when
 * one of them is a GPU (cuda, webgpu) and the model has that graph, since fused attention and norms
 * save kernel launches and memory passes there (and measure as fast as the portable graph on cpu:
 * bench/quantized.ts, bench/op-profile.ts); `portable` (standard ONNX ops, for any runtime) for cpu
 * alone, where the fused graph is not faster.
 */
export function resolveGraphFlavour(
  module: FamilyModule,
  modelType: string,
  requested: GraphFlavour | undefined,
  backends: readonly BackendName[] = ['cpu'],
): GraphFlavour {
  if (requested === undefined) {
    const gpu = backends.some((b) => b === 'cuda' || b === 'webgpu');
    return gpu && module.optimized?.includes(modelType) ? 'optimized' : 'portable';
  }
  if (requested === 'portable') return 'portable';
  if (requested !== 'optimized') {
    throw new CoreError(
      ErrorCode.VALIDATION,
      `graph must be portable or optimized, got ${String(requested)}`,
    );
  }
  if (!module.optimized?.includes(modelType)) {
    throw new CoreError(
      ErrorCode.UNPROCESSABLE,
      `graph: the ${module.family} family has no optimized (fused) graph for ${modelType}`,
    );
  }
  return 'optimized';
}

/** Checks a requested graph flavour for `config` before anything is built; returns the build's. */
export function checkGraphFlavour(
  config: Record<string, unknown>,
  requested: GraphFlavour | undefined,
  backends?: readonly BackendName[],
): GraphFlavour {
  const { module, modelType } = moduleAndTask(config, undefined, undefined);
  return resolveGraphFlavour(module, modelType, requested, backends);
}

/**
 * Checks a requested KV-cache choice for `config` and task before anything is built (a 422 when
 * the model or task has no KV-cache graph); returns the graph's choice.
 */
export function checkKvCache(
  config: Record<string, unknown>,
  task: string | undefined,
  requested?: boolean,
): boolean {
  const resolved = moduleAndTask(config, task, undefined);
  return resolveKvCache(resolved.module, resolved.task, requested);
}

/**
 * Parameters of the graph buildOnnxModel builds for `config` (and task), counted from the weights'
 * shapes without making or writing any values.
 */
export async function countGraphParameters(
  config: Record<string, unknown>,
  options: { task?: string; pooling?: PoolingSpec } = {},
): Promise<number> {
  const { modelType, module, task } = moduleAndTask(config, options.task, options.pooling);
  const g = new GraphBuilder(modelType, { dryRun: true });
  await module.build({
    g,
    config: new ConfigReader(config as HfConfig),
    weights: new ShapeOnlyWeights(),
    task,
    pooling: options.pooling,
    progress: () => undefined,
  });
  return g.parameters;
}

export async function buildOnnxModel(opts: BuildOnnxOptions): Promise<BuildOnnxResult> {
  const config = new ConfigReader(opts.config as HfConfig);
  const { modelType, module, task } = moduleAndTask(opts.config, opts.task, opts.pooling);
  const labels = id2label(opts.config);
  const kvCache = resolveKvCache(module, task, opts.kvCache);
  const backends = [...new Set<BackendName>(opts.backends ?? ['cpu'])];
  const graph = resolveGraphFlavour(module, modelType, opts.graph, backends);
  const report = opts.onProgress ?? (() => undefined);
  throwIfAborted(opts.signal);
  report(0, `building ${modelType} (${module.family}) graph`);

  const weights = createWeightSource({
    weights: opts.weights,
    safetensorsPaths: opts.safetensorsPaths,
    seed: opts.seed,
    std: config.num('initializer_range', 0.02),
    prefixes: module.weightPrefixes(modelType),
  });
  const g = new GraphBuilder(modelType, {
    outDir: opts.outDir,
    precision: opts.precision ?? 'fp32',
    // int8 needs a fallback graph for the backends without DynamicQuantizeMatMul.
    int8Fallback: backends.some((b) => !runsNatively('DynamicQuantizeMatMul', b)),
    ...(opts.blockSize !== undefined ? { blockSize: opts.blockSize } : {}),
    metadata: {
      model_type: modelType,
      family: module.family,
      weights: opts.weights,
      task,
      ...(kvCache ? { kv_cache: 'true' } : {}),
      graph,
      precision: opts.precision ?? 'fp32',
      ...(opts.precision === 'int4' ? { block_size: String(opts.blockSize ?? DEFAULT_INT4_BLOCK_SIZE) } : {}),
      ...(labels ? { id2label: JSON.stringify(labels) } : {}),
      ...(opts.pooling ? { pooling: JSON.stringify(opts.pooling) } : {}),
    },
  });
  try {
    await module.build({
      g,
      config,
      weights,
      task,
      pooling: opts.pooling,
      kvCache,
      graph,
      signal: opts.signal,
      progress: (f, step) => report(Math.min(0.95, Math.max(0, f) * 0.95), step),
    });
    throwIfAborted(opts.signal);
    report(0.96, 'writing model.onnx');
    // A backend that cannot run every op of model.onnx itself gets the fallback graph, where one was
    // built and it runs all of that one's ops.
    const primaryOps = g.contribOps;
    const fallbackOps = g.fallbackContribOps;
    const useFallback = (b: BackendName): boolean =>
      fallbackOps !== undefined && !runsAllNatively(primaryOps, b) && runsAllNatively(fallbackOps, b);
    const saved = await g.save(undefined, {
      fallbackFiles: backends.filter(useFallback).map(backendGraphFile),
    });
    const backendGraphs: Partial<Record<BackendName, BackendGraph>> = {};
    for (const b of backends) {
      backendGraphs[b] = useFallback(b)
        ? { file: backendGraphFile(b), contribOps: saved.fallback!.contribOps }
        : { file: MODEL_FILE, contribOps: saved.contribOps };
    }
    report(1, 'done');
    return {
      onnxPath: saved.onnxPath,
      dataPath: saved.dataPath,
      family: module.family,
      task,
      kvCache,
      graph,
      contribOps: saved.contribOps,
      backendGraphs,
      inputs: saved.inputs,
      outputs: saved.outputs,
      parameters: saved.parameters,
      bytesWritten: saved.bytesWritten,
    };
  } catch (err) {
    g.abort();
    rmSync(join(opts.outDir, MODEL_FILE), { force: true });
    for (const b of backends) rmSync(join(opts.outDir, backendGraphFile(b)), { force: true });
    rmSync(join(opts.outDir, DATA_FILE), { force: true });
    throw err;
  } finally {
    weights.close();
  }
}
