/**
 * The whole generation, from a resolved model to a compiled implementation: build the ONNX graph
 * (real or seeded random weights), then render, type-check, compile and describe it. Used by the
 * Generator API and by the on-demand cache that lets Test and Benchmark take registry ids.
 */
import { existsSync, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { throwIfAborted } from '../errors';
import type { ResolvedModel } from '../models/registry';
import {
  backendGraphFile,
  buildOnnxModel,
  DEFAULT_INT4_BLOCK_SIZE,
  type GraphFlavour,
  type Precision,
} from '../onnx';
import type { BackendName, RunContext } from '../types';
import { generateImplementation, GenerateResult, ONNX_DATA_FILE, ONNX_FILE } from './generate';
import { slugify } from './slug';

export interface PipelineOptions {
  source: ResolvedModel;
  outDir: string;
  /** File names of the implementation; default: the output folder's name, slugged. */
  slug?: string;
  weights: 'random' | 'safetensors';
  precision: Precision;
  /** int4: values per quantization block (default 32). */
  blockSize?: number;
  /** The head (optimum task name); default: the checkpoint's own (source.task). */
  task?: string;
  /** Causal LMs: the KV-cache graph (default: on for text-generation). */
  kvCache?: boolean;
  /** portable (default) or optimized (fused contrib ops, where the family has them). */
  graph?: GraphFlavour;
  seed?: number;
  backends: BackendName[];
  template?: string;
  templateContext?: Record<string, unknown>;
}

export interface PipelineResult extends GenerateResult {
  family: string;
  parameters: number;
  bytesWritten: number;
}

/** Writes into `outDir` (which must not hold another model); progress 0..1 through ctx. */
export async function runGenerationPipeline(opts: PipelineOptions, ctx: RunContext): Promise<PipelineResult> {
  const { outDir } = opts;
  const existed = existsSync(outDir);
  mkdirSync(outDir, { recursive: true });
  try {
    return await pipeline(opts, ctx);
  } catch (err) {
    // A failed or cancelled generation leaves neither its graph nor (when it made it) its folder.
    rmSync(join(outDir, ONNX_FILE), { force: true });
    for (const b of opts.backends) rmSync(join(outDir, backendGraphFile(b)), { force: true });
    rmSync(join(outDir, ONNX_DATA_FILE), { force: true });
    if (!existed) {
      try {
        rmdirSync(outDir);
      } catch {
        /* not empty: what else is there is not ours to remove */
      }
    }
    throw err;
  }
}

async function pipeline(opts: PipelineOptions, ctx: RunContext): Promise<PipelineResult> {
  const { source, outDir } = opts;
  const report = (from: number, span: number) => (fraction: number, step: string) =>
    ctx.onProgress({ progress: from + span * Math.max(0, Math.min(1, fraction)), step });
  report(0, 0)(0, `resolved ${source.id} (${source.family}, ${source.modelType})`);
  const task = opts.task ?? source.task;
  const built = await buildOnnxModel({
    config: source.config,
    outDir,
    weights: opts.weights,
    safetensorsPaths: source.safetensorsPaths,
    precision: opts.precision,
    blockSize: opts.blockSize,
    task,
    // sentence-transformers pooling belongs to their feature-extraction graph only.
    pooling: task === 'feature-extraction' ? source.pooling : undefined,
    kvCache: opts.kvCache,
    graph: opts.graph,
    backends: opts.backends,
    seed: opts.seed ?? 0,
    onProgress: report(0.02, 0.68),
    signal: ctx.signal,
  });
  throwIfAborted(ctx.signal);
  const generated = await generateImplementation({
    modelDir: outDir,
    slug: opts.slug ?? slugify(basename(outDir)),
    modelId: source.id,
    family: built.family,
    config: source.config,
    inputs: built.inputs,
    outputs: built.outputs,
    task: built.task,
    pooling: task === 'feature-extraction' ? source.pooling : undefined,
    backends: opts.backends,
    template: opts.template,
    templateContext: opts.templateContext,
    weightsSource: opts.weights,
    precision: opts.precision,
    ...(opts.precision === 'int4' ? { blockSize: opts.blockSize ?? DEFAULT_INT4_BLOCK_SIZE } : {}),
    graph: built.graph,
    contribOps: built.contribOps,
    backendGraphs: built.backendGraphs,
    seed: opts.weights === 'random' ? (opts.seed ?? 0) : undefined,
    tokenizerPath: source.tokenizerPath,
    onProgress: report(0.7, 0.3),
    signal: ctx.signal,
  });
  return {
    ...generated,
    family: built.family,
    parameters: built.parameters,
    bytesWritten: built.bytesWritten,
  };
}
