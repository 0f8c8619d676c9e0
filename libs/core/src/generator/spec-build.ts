/**
 * For specs: build a model's graph (hf-tiny weights or seeded random ones) and render, compile and
 * load its implementation, the way the generator pipeline does, into a folder of the caller's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { buildOnnxModel, type BuildOnnxResult, type GraphFlavour, type Precision } from '../onnx';
import type { BackendName } from '../types';
import { generateImplementation, type GenerateResult } from './generate';

/** A small T5 (random weights): 2 encoder and 3 decoder layers, 3 heads, vocabulary 50. */
export const TINY_T5_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  model_type: 't5',
  architectures: ['T5ForConditionalGeneration'],
  vocab_size: 50,
  d_model: 16,
  d_kv: 6,
  d_ff: 24,
  num_layers: 2,
  num_decoder_layers: 3,
  num_heads: 3,
  relative_attention_num_buckets: 8,
  relative_attention_max_distance: 10,
  feed_forward_proj: 'gated-gelu',
  initializer_range: 0.5,
  decoder_start_token_id: 0,
  pad_token_id: 0,
  eos_token_id: 1,
});

/** The config.json of an hf-tiny fixture. */
export function hfTinyConfig(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(HF_TINY, name, 'config.json'), 'utf8')) as Record<string, unknown>;
}

export interface SpecBuildOptions {
  /** The config; default: the hf-tiny fixture `name`'s, with its weights. */
  config?: Record<string, unknown>;
  /** With a config: its weights are seeded random ones unless this names a model.safetensors. */
  safetensors?: string;
  kvCache?: boolean;
  graph?: GraphFlavour;
  /** Default fp32. */
  precision?: Precision;
  backends?: BackendName[];
  tokenizerPath?: string;
}

/** Builds `name` into `dir` and generates its implementation there. */
export async function buildImplementation(
  dir: string,
  name: string,
  options: SpecBuildOptions = {},
): Promise<{ built: BuildOnnxResult; generated: GenerateResult }> {
  const config = options.config ?? hfTinyConfig(name);
  const safetensors =
    options.safetensors ?? (options.config ? undefined : join(HF_TINY, name, 'model.safetensors'));
  const built = await buildOnnxModel({
    config,
    outDir: dir,
    weights: safetensors ? 'safetensors' : 'random',
    safetensorsPaths: safetensors ? [safetensors] : undefined,
    kvCache: options.kvCache,
    graph: options.graph,
    precision: options.precision,
    backends: options.backends,
    seed: 1,
  });
  const generated = await generateImplementation({
    modelDir: dir,
    slug: name,
    modelId: name,
    family: built.family,
    config,
    inputs: built.inputs,
    outputs: built.outputs,
    task: built.task,
    backends: options.backends ?? ['cpu'],
    weightsSource: safetensors ? 'safetensors' : 'random',
    precision: options.precision ?? 'fp32',
    graph: built.graph,
    contribOps: built.contribOps,
    backendGraphs: built.backendGraphs,
    tokenizerPath: options.tokenizerPath,
  });
  return { built, generated };
}
