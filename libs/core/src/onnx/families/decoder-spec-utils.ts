/**
 * Helpers for the decoder and T5 specs: build a model with one family module (without going through
 * the registry, so the specs test the module itself), run it with onnxruntime-node, and make int64
 * inputs.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { defaultTask, type Task } from '../tasks';
import { ConfigReader, type HfConfig } from '../config';
import { GraphBuilder } from '../graph';
import { createWeightSource } from '../weights';
import { int64Tensor, withDefaultPositions } from './spec-helpers';

export { int64Tensor };
import type { FamilyModule, GraphFlavour } from './types';

export interface BuildWithOptions {
  weights: 'random' | 'safetensors';
  safetensorsPaths?: string[];
  seed?: number;
  precision?: 'fp32' | 'fp16';
  /** The head; default: the one the config's architectures name. */
  task?: Task;
  /** Causal decoders: the KV-cache graph. */
  kvCache?: boolean;
  graph?: GraphFlavour;
}

/** Builds `config` with `module` into a fresh temp dir; returns the model.onnx path. */
export async function buildWithModule(
  module: FamilyModule,
  config: HfConfig,
  options: BuildWithOptions,
  outDir = mkdtempSync(join(tmpdir(), `onnx-${String(config.model_type)}-`)),
): Promise<string> {
  const reader = new ConfigReader(config);
  const weights = createWeightSource({
    weights: options.weights,
    safetensorsPaths: options.safetensorsPaths,
    seed: options.seed,
    std: reader.num('initializer_range', 0.02),
    prefixes: module.weightPrefixes(reader.modelType),
  });
  const g = new GraphBuilder(reader.modelType, { outDir, precision: options.precision ?? 'fp32' });
  try {
    await module.build({
      g,
      config: reader,
      weights,
      task: options.task ?? defaultTask(config),
      kvCache: options.kvCache,
      graph: options.graph,
      progress: () => undefined,
    });
    return (await g.save()).onnxPath;
  } catch (err) {
    g.abort();
    throw err;
  } finally {
    weights.close();
  }
}

/** Runs one session on `feeds`; returns every output as float32 data with dims. */
export async function runModel(
  onnxPath: string,
  feeds: Record<string, ort.Tensor>,
  executionProviders: string[] = ['cpu'],
): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
  const session = await ort.InferenceSession.create(onnxPath, {
    executionProviders,
    graphOptimizationLevel: 'all',
  });
  try {
    const results = await session.run(withDefaultPositions(session, feeds));
    const out: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
    for (const [name, t] of Object.entries(results))
      out[name] = { data: t.data as Float32Array, dims: t.dims };
    return out;
  } finally {
    await session.release();
  }
}

/** Max |a - b| over the positions where `keep(i)` is true (all by default). */
export function maxAbsDiffWhere(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  keep: (i: number) => boolean = () => true,
): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (!keep(i)) continue;
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
