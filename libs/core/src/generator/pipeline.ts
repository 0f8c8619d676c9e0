/**
 * The whole generation, from a resolved model to a compiled implementation: build the ONNX graph
 * (real or seeded random weights), then render, type-check, compile and describe it. Used by the
 * Generator API and by the on-demand cache that lets Test and Benchmark take registry ids.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { throwIfAborted } from '../errors';
import type { ResolvedModel } from '../models/registry';
import { buildOnnxModel } from '../onnx';
import type { BackendName, RunContext } from '../types';
import { generateImplementation, GenerateResult } from './generate';
import { generatorVersion } from './manifest';
import { slugify } from './slug';

export interface PipelineOptions {
  source: ResolvedModel;
  outDir: string;
  /** File names of the implementation; default: the output folder's name, slugged. */
  slug?: string;
  weights: 'random' | 'safetensors';
  precision: 'fp32' | 'fp16';
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
  const { source, outDir } = opts;
  mkdirSync(outDir, { recursive: true });
  const report = (from: number, span: number) => (fraction: number, step: string) =>
    ctx.onProgress({ progress: from + span * Math.max(0, Math.min(1, fraction)), step });
  report(0, 0)(0, `resolved ${source.id} (${source.family}, ${source.modelType})`);
  const built = await buildOnnxModel({
    config: source.config,
    outDir,
    weights: opts.weights,
    safetensorsPaths: source.safetensorsPaths,
    precision: opts.precision,
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
    backends: opts.backends,
    template: opts.template,
    templateContext: opts.templateContext,
    weightsSource: opts.weights,
    precision: opts.precision,
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

/** The cache folder of a registry model with random weights: keyed by its config, seed and generator version. */
export function cachedModelDir(cacheRoot: string, source: ResolvedModel, seed: number): string {
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        config: source.config,
        seed,
        weights: 'random',
        precision: 'fp32',
        v: generatorVersion(),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  return join(cacheRoot, `${slugify(source.id)}-${key}`);
}

const inflight = new Map<string, Promise<string>>();

/**
 * A registry model generated on demand (random weights, fp32, every backend), cached by config and
 * seed: the first caller generates into a temporary folder renamed into place when complete, so a
 * half-written model is never picked up; concurrent callers in this process share one generation.
 * Resolves with the folder holding the implementation.
 */
export function ensureGenerated(
  cacheRoot: string,
  source: ResolvedModel,
  seed: number,
  ctx: RunContext,
  /** Runs the pipeline (in a worker thread, say); default: runGenerationPipeline on this thread. */
  generate: (opts: PipelineOptions, ctx: RunContext) => Promise<PipelineResult> = runGenerationPipeline,
): Promise<string> {
  const dir = cachedModelDir(cacheRoot, source, seed);
  if (existsSync(join(dir, 'manifest.json'))) return Promise.resolve(dir);
  const pending = inflight.get(dir);
  if (pending) return pending;
  const work = (async () => {
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(dirname(dir), { recursive: true });
    try {
      await generate(
        {
          source,
          outDir: tmp,
          slug: slugify(source.id),
          weights: 'random',
          precision: 'fp32',
          seed,
          backends: ['cpu', 'cuda', 'webgpu'],
        },
        ctx,
      );
      if (existsSync(join(dir, 'manifest.json'))) rmSync(tmp, { recursive: true, force: true });
      else {
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir);
      }
      return dir;
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    } finally {
      inflight.delete(dir);
    }
  })();
  inflight.set(dir, work);
  return work;
}
