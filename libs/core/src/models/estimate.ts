/**
 * Admission estimates, before anything runs: the peak memory of one inference at a batch × sequence
 * shape, from a model's Hugging Face config (the dimensions the ONNX builder uses) and its weights'
 * bytes; the disk a generation writes; the shortest time a benchmark can take.
 *
 * The memory model is deliberately simple and errs high, never by orders of magnitude:
 * - weights: the bytes of the parameters (or of the model files on disk) × WEIGHT_COPIES: onnxruntime
 *   reads the external data and keeps its initializers (the CPU provider also pre-packs MatMul weights);
 * - activations of the widest layer, fp32, as if nothing were reused inside it: two attention tensors
 *   (scores and their softmax) of batch × heads × seq × seq, two (three when gated) MLP tensors of
 *   batch × seq × intermediate, six hidden-state tensors of batch × seq × hidden;
 * - every output (logits batch × seq × vocab, last hidden state, the decoders' present key/values of
 *   all layers), twice: onnxruntime's copy and the JavaScript one;
 * - activations and outputs × ARENA_FACTOR: the CPU arena extends by powers of two and keeps what it
 *   took;
 * - a fixed RUNTIME_BYTES for the session and its threads.
 * bench/memory.ts measures real peaks against it.
 */
import { statSync } from 'node:fs';
import type { Precision } from '../onnx/graph';
import { countParameters } from './registry-params';

type Config = Record<string, unknown>;

/** Bytes of one activation element: onnxruntime's CPU kernels compute in fp32. */
const ACT_BYTES = 4;
/** The CPU arena's growth (next power of two) and what it keeps. */
export const ARENA_FACTOR = 1.5;
/** Weights counted this many times (initializers, and what loading them and pre-packing MatMul weights adds). */
export const WEIGHT_COPIES = 1.5;
/** A session's own allocations, thread pools and the inputs' JavaScript side. */
export const RUNTIME_BYTES = 128 * 1024 * 1024;
/** What the generator writes beside the weights (graph, implementation, manifest, tokenizer). */
export const GENERATION_OVERHEAD_BYTES = 16 * 1024 * 1024;

export type EstimateFamily = 'encoder' | 'decoder' | 'vision' | 'encoder-decoder';

/** The dimensions the estimates need, read from a config. */
export interface ModelDims {
  modelType: string;
  family: EstimateFamily;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  /** MLP with a gate (Llama, Qwen2, gated T5): one more tensor of intermediate size. */
  gated: boolean;
  vocab: number;
  /** Vision: tokens per image (patches + class/distillation tokens); the sequence axis is ignored. */
  imageTokens?: number;
  parameters: number;
}

function n(c: Config, keys: string[], fallback?: number): number | undefined {
  for (const k of keys) {
    const v = c[k];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  }
  return fallback;
}

/** The dimensions of a registry-supported config, or undefined for an architecture it does not know. */
export function dimsFromConfig(config: Config): ModelDims | undefined {
  const modelType = String(config.model_type ?? '');
  let parameters: number;
  try {
    parameters = countParameters(config);
  } catch {
    return undefined;
  }
  const get = (keys: string[], fallback?: number) => n(config, keys, fallback);
  switch (modelType) {
    case 'bert':
    case 'roberta':
    case 'xlm-roberta':
    case 'camembert':
    case 'electra':
    case 'distilbert':
    case 'gpt2':
    case 'llama':
    case 'qwen2':
    case 'vit':
    case 'deit': {
      const hidden = get(['hidden_size', 'n_embd', 'dim']);
      const layers = get(['num_hidden_layers', 'n_layer', 'n_layers']);
      const heads = get(['num_attention_heads', 'n_head', 'n_heads']);
      if (!hidden || !layers || !heads) return undefined;
      const kvHeads = get(['num_key_value_heads'], heads)!;
      const decoder = modelType === 'gpt2' || modelType === 'llama' || modelType === 'qwen2';
      const vision = modelType === 'vit' || modelType === 'deit';
      const gated = modelType === 'llama' || modelType === 'qwen2';
      let imageTokens: number | undefined;
      if (vision) {
        const size = get(['image_size'], 224)!;
        const patch = get(['patch_size'], 16)!;
        imageTokens = Math.floor(size / patch) ** 2 + (modelType === 'deit' ? 2 : 1);
      }
      return {
        modelType,
        family: decoder ? 'decoder' : vision ? 'vision' : 'encoder',
        hidden,
        layers,
        heads,
        kvHeads,
        headDim: get(['head_dim'], hidden / heads)!,
        intermediate: get(['intermediate_size', 'n_inner', 'hidden_dim'], 4 * hidden)!,
        gated,
        vocab: get(['vocab_size'], 0)!,
        imageTokens,
        parameters,
      };
    }
    case 't5': {
      const hidden = get(['d_model']);
      const heads = get(['num_heads']);
      const enc = get(['num_layers']);
      if (!hidden || !heads || !enc) return undefined;
      const headDim = get(['d_kv'], hidden / heads)!;
      return {
        modelType,
        family: 'encoder-decoder',
        hidden: Math.max(hidden, heads * headDim),
        layers: enc + get(['num_decoder_layers'], enc)!,
        heads,
        kvHeads: heads,
        headDim,
        intermediate: get(['d_ff'], 4 * hidden)!,
        gated: String(config.feed_forward_proj ?? 'relu').startsWith('gated-'),
        vocab: get(['vocab_size'], 0)!,
        parameters,
      };
    }
    default:
      return undefined;
  }
}

export type { Precision };

/**
 * Bytes per quantized projection parameter, with the per-column scales (int8) or the per-block scale
 * and zero point (int4, blocks of 16 or more values), rounded up.
 */
const QUANTIZED_PARAM_BYTES = { int8: 1.02, int4: 0.8 } as const;

/**
 * Bytes of the weights a generation writes (model.onnx.data) at a precision. int8 and int4 quantize
 * the projections and keep the token embedding [vocab, hidden] in fp32, beside a quantized copy of
 * it when the LM head is tied (counted whether or not it is: a bound).
 */
export function weightBytes(
  dims: Pick<ModelDims, 'parameters'> & Partial<Pick<ModelDims, 'vocab' | 'hidden'>>,
  precision: Precision = 'fp32',
): number {
  if (precision === 'fp32') return dims.parameters * 4;
  if (precision === 'fp16') return dims.parameters * 2;
  const perParam = QUANTIZED_PARAM_BYTES[precision];
  const embedding = Math.min(dims.parameters, (dims.vocab ?? 0) * (dims.hidden ?? 0));
  return Math.ceil((dims.parameters - embedding) * perParam + embedding * (4 + perParam));
}

/** Disk a generation of this model needs: its weights plus the graph, implementation and manifest. */
export function generationDiskBytes(
  dims: Pick<ModelDims, 'parameters'> & Partial<Pick<ModelDims, 'vocab' | 'hidden'>>,
  precision: Precision = 'fp32',
): number {
  return weightBytes(dims, precision) + GENERATION_OVERHEAD_BYTES;
}

export interface Shape {
  batchSize: number;
  /** Ignored for vision models (their tokens come from the image size). */
  sequenceLength: number;
}

export interface MemoryEstimate {
  /** The estimate, bytes. */
  total_bytes: number;
  weights_bytes: number;
  /** Widest layer's intermediate tensors plus the outputs, before the arena factor. */
  activation_bytes: number;
  /** Activations × ARENA_FACTOR. */
  arena_bytes: number;
  runtime_bytes: number;
  /** The shape the estimate is for (the largest asked for). */
  batch_size: number;
  sequence_length: number;
  /** What it was computed from. */
  basis: 'config' | 'file-size';
}

/** Elements of the widest layer's intermediate tensors and of the outputs, at one shape. */
export function activationElements(dims: ModelDims, shape: Shape): { layer: number; outputs: number } {
  const B = shape.batchSize;
  const S = dims.family === 'vision' ? (dims.imageTokens ?? 197) : shape.sequenceLength;
  const attention = 2 * B * dims.heads * S * S;
  const mlp = (dims.gated ? 3 : 2) * B * S * dims.intermediate;
  const hidden = 6 * B * S * Math.max(dims.hidden, dims.heads * dims.headDim);
  let outputs = B * S * dims.hidden;
  if (dims.family === 'decoder' || dims.family === 'encoder-decoder') {
    outputs = B * S * dims.vocab;
    if (dims.family === 'decoder') outputs += 2 * dims.layers * B * dims.kvHeads * S * dims.headDim;
  }
  return { layer: attention + mlp + hidden, outputs: 2 * outputs };
}

/**
 * Peak memory of one session of the model running the largest of the shapes, from its config.
 * `modelBytes` (the model files' size on disk) replaces the parameter count when known.
 */
export function estimateMemory(
  dims: ModelDims,
  shapes: readonly Shape[],
  options: { precision?: Precision; modelBytes?: number } = {},
): MemoryEstimate {
  let worst = { bytes: 0, shape: shapes[0] ?? { batchSize: 1, sequenceLength: 1 } };
  for (const shape of shapes) {
    const { layer, outputs } = activationElements(dims, shape);
    const bytes = (layer + outputs) * ACT_BYTES;
    if (bytes > worst.bytes) worst = { bytes, shape };
  }
  const weights = Math.ceil(WEIGHT_COPIES * (options.modelBytes ?? weightBytes(dims, options.precision)));
  const arena = Math.ceil(worst.bytes * ARENA_FACTOR);
  return {
    total_bytes: weights + arena + RUNTIME_BYTES,
    weights_bytes: weights,
    activation_bytes: worst.bytes,
    arena_bytes: arena,
    runtime_bytes: RUNTIME_BYTES,
    batch_size: worst.shape.batchSize,
    sequence_length: dims.family === 'vision' ? (dims.imageTokens ?? 0) : worst.shape.sequenceLength,
    basis: 'config',
  };
}

/**
 * A plain .onnx file without a config: its weights from the files' size, no activation part (the
 * graph's intermediate shapes are not known without running it), so only the weights are bounded.
 */
export function estimateMemoryFromFiles(modelBytes: number): MemoryEstimate {
  const weights = Math.ceil(WEIGHT_COPIES * modelBytes);
  return {
    total_bytes: weights + RUNTIME_BYTES,
    weights_bytes: weights,
    activation_bytes: 0,
    arena_bytes: 0,
    runtime_bytes: RUNTIME_BYTES,
    batch_size: 0,
    sequence_length: 0,
    basis: 'file-size',
  };
}

/** Total size of the files (missing ones count 0). */
export function filesBytes(paths: readonly string[]): number {
  let total = 0;
  for (const p of paths) {
    try {
      total += statSync(p).size;
    } catch {
      // absent: nothing to load
    }
  }
  return total;
}

/**
 * The shortest time a benchmark can take, seconds: every configuration measures for at least
 * min_duration_s (its warm-up and load come on top and are not bounded below by anything known here).
 */
export function minBenchmarkSeconds(configurations: number, minDurationS: number): number {
  return configurations * minDurationS;
}
