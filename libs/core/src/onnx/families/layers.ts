/**
 * Building blocks shared by the families: weights pulled from a WeightSource into the graph under
 * their Hugging Face names, linear layers, LayerNorm, additive attention masks and multi-head
 * self-attention.
 */
import { floatAttr, type GraphBuilder } from '../graph';
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
  return linearParts(g, w, name, x, inFeatures, outFeatures, false, bias).y;
}

/**
 * An nn.Linear applied to x, with its bias kept apart when `fuseBias` (for an op that adds it itself:
 * SkipLayerNormalization, BiasGelu, FastGelu); otherwise bias included, as `linearLayer`.
 */
export function linearParts(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  x: string,
  inFeatures: number,
  outFeatures: number,
  fuseBias: boolean,
  bias = true,
): { y: string; bias?: string } {
  const data = w.linear(`${name}.weight`, inFeatures, outFeatures);
  const weight = g.projectionWeight(`${name}.weight`, { data, layout: 'in-out' }, inFeatures, outFeatures);
  const b = bias ? g.weight(`${name}.bias`, w.get(`${name}.bias`, [outFeatures]), [outFeatures]) : undefined;
  return fuseBias && b
    ? { y: g.applyProjection(x, weight), bias: b }
    : { y: g.applyProjection(x, weight, b) };
}

/**
 * act(y + bias). Fused (the optimized graph): com.microsoft BiasGelu for exact GELU and FastGelu for
 * the tanh approximation (gelu_new, gelu_pytorch_tanh, gelu_fast), which cpu, cuda and webgpu run;
 * other activations, or no fusion, stay standard ops.
 */
export function biasActivation(
  g: GraphBuilder,
  y: string,
  bias: string | undefined,
  act: string,
  fused: boolean,
): string {
  if (fused && bias && act === 'gelu') return g.msOp('BiasGelu', [y, bias])[0]!;
  if (fused && ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'].includes(act)) {
    return g.msOp('FastGelu', bias ? [y, bias] : [y])[0]!;
  }
  return g.activation(bias ? g.add(y, bias) : y, act);
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

/** [in, a] ‖ [in, b] ‖ ... → [in, a + b + ...]: weights stored [in, out] joined along out. */
function joinColumns(parts: Float32Array[], rows: number, widths: number[]): Float32Array {
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let at = r * total;
    parts.forEach((p, k) => {
      out.set(p.subarray(r * widths[k]!, (r + 1) * widths[k]!), at);
      at += widths[k]!;
    });
  }
  return out;
}

/**
 * The same self-attention with onnxruntime's fused op, as its transformer optimizer and
 * onnxruntime-genai emit it: one packed QKV projection, com.microsoft MultiHeadAttention (q/k/v
 * biases inside, `attentionBias` an additive [batch, 1, seq, seq] mask when given; webgpu's kernel
 * lacks key_padding_mask) and the output projection. Its bias is returned apart, for the
 * SkipLayerNormalization after it.
 */
export function fusedSelfAttention(
  g: GraphBuilder,
  w: WeightSource,
  x: string,
  names: AttentionWeights,
  hidden: number,
  heads: number,
  attentionBias: string | undefined,
): { y: string; bias: string } {
  const H = hidden;
  const qkvNames = [names.query, names.key, names.value];
  const packed = joinColumns(
    qkvNames.map((n) => w.linear(`${n}.weight`, H, H)),
    H,
    [H, H, H],
  );
  const qkvWeight = g.projectionWeight(
    `${names.query}.qkv_packed.weight`,
    { data: packed, layout: 'in-out' },
    H,
    3 * H,
  );
  const qkvBias =
    (names.qkvBias ?? true)
      ? g.weight(
          `${names.query}.qkv_packed.bias`,
          Float32Array.from(qkvNames.flatMap((n) => [...w.get(`${n}.bias`, [H])])),
          [3 * H],
        )
      : '';
  const [q, k, v] = g.node('Split', [g.applyProjection(x, qkvWeight), g.constInt64([H, H, H])], 3, {
    axis: -1,
  });
  const [ctx] = g.msOp('MultiHeadAttention', [q!, k!, v!, qkvBias, '', attentionBias ?? ''], {
    num_heads: heads,
  });
  const out = linearParts(g, w, names.output, ctx!, H, H, true);
  return { y: out.y, bias: out.bias! };
}

/** `<name>.weight` / `<name>.bias` of an nn.LayerNorm as initializers. */
export function layerNormWeights(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  size: number,
): [string, string] {
  return [
    g.weight(`${name}.weight`, w.get(`${name}.weight`, [size], { init: 'ones' }), [size]),
    g.weight(`${name}.bias`, w.get(`${name}.bias`, [size], { init: 'zeros' }), [size]),
  ];
}

/** residual + delta + bias, then LayerNorm, as one com.microsoft SkipLayerNormalization (post-LN). */
export function skipLayerNorm(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  delta: string,
  residual: string,
  bias: string | undefined,
  size: number,
  eps: number,
): string {
  const [gamma, beta] = layerNormWeights(g, w, name, size);
  return g.msOp('SkipLayerNormalization', [delta, residual, gamma, beta, bias ?? ''], {
    epsilon: floatAttr(eps),
  })[0]!;
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
