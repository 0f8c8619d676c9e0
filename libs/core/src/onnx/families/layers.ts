/**
 * Building blocks shared by the families: weights pulled from a WeightSource into the graph under
 * their Hugging Face names, linear layers, LayerNorm, additive attention masks and multi-head
 * self-attention.
 */
import type { GraphBuilder } from '../graph';
import type { WeightSource } from '../weights';

/**
 * Adds an nn.Linear (`<name>.weight` [out, in], optional `<name>.bias`) and applies it to x: a
 * projection, so int8/int4 builds quantize its weight.
 */
export function linearLayer(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  x: string,
  inFeatures: number,
  outFeatures: number,
  bias = true,
): string {
  const data = w.linear(`${name}.weight`, inFeatures, outFeatures);
  const weight = g.projectionWeight(`${name}.weight`, { data, layout: 'in-out' }, inFeatures, outFeatures);
  const b = bias ? g.weight(`${name}.bias`, w.get(`${name}.bias`, [outFeatures]), [outFeatures]) : undefined;
  return g.applyProjection(x, weight, b);
}

/** Adds an nn.LayerNorm (`<name>.weight`, `<name>.bias`) and applies it over the last axis. */
export function layerNormLayer(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  x: string,
  size: number,
  eps: number,
): string {
  const scale = g.weight(`${name}.weight`, w.get(`${name}.weight`, [size], { init: 'ones' }), [size]);
  const bias = g.weight(`${name}.bias`, w.get(`${name}.bias`, [size], { init: 'zeros' }), [size]);
  return g.layerNorm(x, scale, bias, eps);
}

/** An embedding table `<name>` [rows, dim] as an initializer. */
export function embeddingTable(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  rows: number,
  dim: number,
): string {
  return g.weight(name, w.get(name, [rows, dim]), [rows, dim]);
}

/**
 * The additive mask of a [batch, seq] 0/1 int64 attention mask: (1 - mask) * min as [batch, 1, 1, seq]
 * in the compute dtype, as transformers' `_prepare_4d_attention_mask` builds it.
 */
export function additiveMask(g: GraphBuilder, attentionMask: string): string {
  const m = g.castCompute(attentionMask);
  const inverted = g.sub(g.constFloat(1), m);
  return g.unsqueeze(g.mul(inverted, g.constFloat(g.minValue)), [1, 2]);
}

export interface AttentionWeights {
  /** Linear layer names (HF), each with .weight and .bias. */
  query: string;
  key: string;
  value: string;
  output: string;
  /** Whether query/key/value have biases (default true; ViT's qkv_bias). The output always has one. */
  qkvBias?: boolean;
}

/**
 * Bidirectional multi-head self-attention on x [batch, seq, hidden]:
 * softmax(q k^T / sqrt(d) + mask) v, then the output projection.
 */
export function selfAttention(
  g: GraphBuilder,
  w: WeightSource,
  x: string,
  names: AttentionWeights,
  hidden: number,
  heads: number,
  mask: string | undefined,
): string {
  const headDim = hidden / heads;
  const bias = names.qkvBias ?? true;
  const split = (t: string) => g.reshape(t, [0, 0, heads, headDim]);
  const q = g.transpose(split(linearLayer(g, w, names.query, x, hidden, hidden, bias)), [0, 2, 1, 3]);
  const k = g.transpose(split(linearLayer(g, w, names.key, x, hidden, hidden, bias)), [0, 2, 3, 1]);
  const v = g.transpose(split(linearLayer(g, w, names.value, x, hidden, hidden, bias)), [0, 2, 1, 3]);
  let scores = g.mul(g.matmul(q, k), g.constFloat(1 / Math.sqrt(headDim)));
  if (mask) scores = g.add(scores, mask);
  const ctx = g.matmul(g.softmax(scores, -1), v);
  const merged = g.reshape(g.transpose(ctx, [0, 2, 1, 3]), [0, 0, hidden]);
  return linearLayer(g, w, names.output, merged, hidden, hidden);
}

/** dense + activation on the first token of x [batch, seq, hidden] → [batch, out] (BERT/ViT pooler). */
export function firstTokenPooler(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  x: string,
  hidden: number,
  outFeatures: number,
  act: string,
): string {
  const first = g.squeeze(g.slice(x, 1, 0, 1), [1]);
  return g.activation(linearLayer(g, w, name, first, hidden, outFeatures), act);
}
