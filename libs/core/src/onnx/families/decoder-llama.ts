/**
 * Llama (LlamaForCausalLM) and Qwen2 (Qwen2ForCausalLM), faithful to transformers 5.x:
 * embed_tokens → N pre-norm layers (RMSNorm → q/k/v projections → RoPE (rotate_half) on q and k →
 * grouped-query attention (kv heads repeated) with the causal + padding (+ sliding window) mask,
 * scaled by head_dim^-0.5 → o_proj → residual; RMSNorm → down(act(gate(x)) * up(x)) → residual) →
 * final RMSNorm → lm_head (tied to embed_tokens when tie_word_embeddings) → logits.
 *
 * Position ids are arange(seq) (cache_position), as LlamaModel/Qwen2Model compute them when none are
 * passed; they do not follow the attention mask. The KV-cache graph takes position_ids as an input
 * (per row, as generate() passes them) and caches the keys after RoPE, as transformers does. RoPE: the default, "linear" and "llama3" rope types
 * (rope_parameters in 5.x configs, rope_theta + rope_scaling in 4.x ones); inv_freq is computed with
 * float32 rounding at every step as torch does, and cos/sin in the graph from float32 positions.
 * Qwen2 adds biases to q, k and v (not o); Llama has them on all four when attention_bias, and on the
 * MLP when mlp_bias.
 */
import { CoreError, ErrorCode, throwIfAborted } from '../../errors';
import type { ConfigReader } from '../config';
import { ELEM_TYPE, type GraphBuilder } from '../graph';
import { linearLayer } from './layers';
import { ResidualStream } from './residual';
import {
  attend,
  decoderInputs,
  decoderMask,
  emitCausalLmHead,
  mergeHeads,
  optionalInt,
  repeatKv,
  splitHeads,
  type DecoderInputs,
  type DecoderMask,
  tokenEmbedding,
} from './decoder-common';
import type { FamilyContext } from './types';

export interface RopeSpec {
  type: 'default' | 'linear' | 'llama3';
  theta: number;
  /** Rotary dims (= head_dim). */
  dim: number;
  factor?: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositions?: number;
}

export interface LlamaSpec {
  modelType: string;
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  eps: number;
  act: string;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  tied: boolean;
  rope: RopeSpec;
  /** Per layer: the sliding window, or undefined for full attention. */
  slidingWindows: (number | undefined)[];
  /** max_position_embeddings, when the config has it: the rotary caches' length in the optimized graph. */
  maxPositions?: number;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function num(v: unknown, what: string, fallback?: number): number {
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new CoreError(ErrorCode.INVALID_MODEL, `missing ${what}`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new CoreError(ErrorCode.INVALID_MODEL, `${what} must be a number, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** RoPE settings from rope_parameters (transformers 5.x) or rope_theta + rope_scaling (4.x). */
export function ropeSpec(config: ConfigReader, headDim: number): RopeSpec {
  const raw = config.raw;
  const params = record(raw.rope_parameters) ?? { ...record(raw.rope_scaling), rope_theta: raw.rope_theta };
  const theta = num(params.rope_theta ?? raw.rope_theta, 'rope_theta', 10000);
  const type = String(params.rope_type ?? params.type ?? 'default');
  const partial = num(params.partial_rotary_factor ?? raw.partial_rotary_factor, 'partial_rotary_factor', 1);
  if (partial !== 1) {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `${config.modelType}: partial_rotary_factor ${partial} is not supported`,
    );
  }
  const spec: RopeSpec = { type: 'default', theta, dim: headDim };
  switch (type) {
    case 'default':
      return spec;
    case 'linear':
      return { ...spec, type: 'linear', factor: num(params.factor, 'rope factor') };
    case 'llama3':
      return {
        ...spec,
        type: 'llama3',
        factor: num(params.factor, 'rope factor'),
        lowFreqFactor: num(params.low_freq_factor, 'rope low_freq_factor'),
        highFreqFactor: num(params.high_freq_factor, 'rope high_freq_factor'),
        originalMaxPositions: num(
          params.original_max_position_embeddings,
          'rope original_max_position_embeddings',
        ),
      };
    default:
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `${config.modelType}: rope type "${type}" is not supported (default, linear and llama3 are)`,
      );
  }
}

const f32 = Math.fround;

/** inv_freq as transformers computes it in float32 (every intermediate rounded to float32). */
export function ropeInvFreq(rope: RopeSpec): Float32Array {
  const half = rope.dim / 2;
  const out = new Float32Array(half);
  const theta = f32(rope.theta);
  for (let i = 0; i < half; i++) {
    // 1.0 / (base ** (arange(0, dim, 2).float() / dim))
    const base = f32(1 / f32(Math.pow(theta, f32((2 * i) / rope.dim))));
    out[i] = base;
  }
  if (rope.type === 'linear') {
    for (let i = 0; i < half; i++) out[i] = f32(out[i]! / f32(rope.factor!));
  } else if (rope.type === 'llama3') {
    const factor = f32(rope.factor!);
    const low = rope.lowFreqFactor!;
    const high = rope.highFreqFactor!;
    const old = rope.originalMaxPositions!;
    const lowFreqWavelen = f32(old / low);
    const highFreqWavelen = f32(old / high);
    const twoPi = f32(2 * Math.PI);
    for (let i = 0; i < half; i++) {
      const inv = out[i]!;
      // 2 * math.pi / inv_freq (torch: reciprocal then multiply)
      const wavelen = f32(f32(1 / inv) * twoPi);
      let llama = wavelen > lowFreqWavelen ? f32(inv / factor) : inv;
      // (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
      const smooth = f32(f32(f32(f32(1 / wavelen) * f32(old)) - f32(low)) / f32(high - low));
      const smoothed = f32(f32(f32(f32(1 - smooth) * llama) / factor) + f32(smooth * llama));
      const medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
      if (medium) llama = smoothed;
      out[i] = llama;
    }
  }
  return out;
}

export function llamaSpec(config: ConfigReader): LlamaSpec {
  const modelType = config.modelType;
  const qwen2 = modelType === 'qwen2';
  const hidden = config.int('hidden_size');
  const heads = config.int('num_attention_heads');
  const kvHeads = config.int('num_key_value_heads', heads);
  if (heads % kvHeads !== 0) {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `${modelType}: ${heads} heads are not a multiple of ${kvHeads} kv heads`,
    );
  }
  const headDim = config.has('head_dim') ? config.int('head_dim') : config.headDim(hidden, heads);
  if (headDim % 2 !== 0)
    throw new CoreError(ErrorCode.INVALID_MODEL, `${modelType}: head_dim ${headDim} is odd`);
  const layers = config.int('num_hidden_layers');
  return {
    modelType,
    vocab: config.int('vocab_size'),
    hidden,
    layers,
    heads,
    kvHeads,
    headDim,
    intermediate: config.int('intermediate_size'),
    eps: config.num('rms_norm_eps', 1e-6),
    act: config.str('hidden_act', 'silu'),
    qkvBias: qwen2 ? true : config.bool('attention_bias', false),
    oBias: qwen2 ? false : config.bool('attention_bias', false),
    mlpBias: qwen2 ? false : config.bool('mlp_bias', false),
    tied: config.bool('tie_word_embeddings', false),
    rope: ropeSpec(config, headDim),
    slidingWindows: slidingWindows(config, layers),
    maxPositions: optionalInt(config.raw.max_position_embeddings, `${modelType} max_position_embeddings`),
  };
}

/** Per-layer sliding windows: layer_types (5.x) or use_sliding_window + max_window_layers (Qwen2 4.x). */
function slidingWindows(config: ConfigReader, layers: number): (number | undefined)[] {
  const raw = config.raw;
  const enabled = config.modelType === 'qwen2' ? config.bool('use_sliding_window', false) : true;
  const window = enabled ? optionalInt(raw.sliding_window, `${config.modelType} sliding_window`) : undefined;
  let types: string[];
  if (Array.isArray(raw.layer_types)) {
    types = raw.layer_types.map(String);
    if (types.length !== layers) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `${config.modelType}: layer_types has ${types.length} entries for ${layers} layers`,
      );
    }
  } else if (config.modelType === 'qwen2' && window !== undefined) {
    const maxWindowLayers = config.num('max_window_layers', 28);
    types = Array.from({ length: layers }, (_, i) =>
      i >= maxWindowLayers ? 'sliding_attention' : 'full_attention',
    );
  } else {
    types = Array.from({ length: layers }, () => 'full_attention');
  }
  return types.map((t) => {
    if (t === 'full_attention') return undefined;
    if (t === 'sliding_attention') {
      if (window === undefined) {
        throw new CoreError(
          ErrorCode.INVALID_MODEL,
          `${config.modelType}: a sliding_attention layer needs sliding_window`,
        );
      }
      return window;
    }
    throw new CoreError(ErrorCode.INVALID_MODEL, `${config.modelType}: unsupported layer type "${t}"`);
  });
}

/** cos and sin [batch, 1, seq, head_dim] in the compute dtype from per-row position_ids [batch, seq]. */
function rotaryTables(g: GraphBuilder, rope: RopeSpec, positions: string): { cos: string; sin: string } {
  const invFreq = g.constFloat32([...ropeInvFreq(rope)]);
  const pos = g.unsqueeze(g.op('Cast', [positions], { to: ELEM_TYPE.float32 }), [-1]); // [.., S, 1]
  const freqs = g.mul(pos, invFreq); // [.., S, D/2]
  const emb = g.unsqueeze(g.concat([freqs, freqs], -1), [1]); // [B, 1, S, D]
  return { cos: g.castCompute(g.op('Cos', [emb])), sin: g.castCompute(g.op('Sin', [emb])) };
}

/** x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1), for x [B, H, S, D]. */
function applyRotary(g: GraphBuilder, x: string, cos: string, sin: string, headDim: number): string {
  const half = headDim / 2;
  const [x1, x2] = g.node('Split', [x, g.constInt64([half, half])], 2, { axis: -1 });
  const rotated = g.concat([g.op('Neg', [x2!]), x1!], -1);
  return g.add(g.mul(x, cos), g.mul(rotated, sin));
}

/**
 * The optimized graph's rotary caches: cos and sin of position × inv_freq for every position the
 * model takes, [max_position_embeddings, head_dim / 2] in the compute dtype (com.microsoft
 * RotaryEmbedding's cos_cache and sin_cache), computed with float32 rounding of the angle as the
 * portable graph does.
 */
function rotaryCaches(g: GraphBuilder, rope: RopeSpec, positions: number): { cos: string; sin: string } {
  const invFreq = ropeInvFreq(rope);
  const half = rope.dim / 2;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * invFreq[i]!);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return {
    cos: g.computeInitializer('rotary.cos_cache', cos, [positions, half]),
    sin: g.computeInitializer('rotary.sin_cache', sin, [positions, half]),
  };
}

/** com.microsoft RotaryEmbedding (rotate_half layout) on [batch, seq, heads × head_dim]. */
function rotaryOp(
  g: GraphBuilder,
  x: string,
  positions: string,
  caches: { cos: string; sin: string },
  heads: number,
): string {
  return g.msOp('RotaryEmbedding', [x, positions, caches.cos, caches.sin], {
    interleaved: 0,
    num_heads: heads,
  })[0]!;
}

/**
 * A layer's self-attention on its normed input `h`: q/k/v projections, `rotate` (RoPE on [batch,
 * seq, heads × head_dim] projections, returning [batch, heads, seq, head_dim]), the KV cache when the
 * graph has one, grouped-query attention with the mask, and o_proj.
 */
function attentionBlock(
  ctx: FamilyContext,
  s: LlamaSpec,
  i: number,
  h: string,
  rotate: (projected: string, heads: number) => string,
  mask: DecoderMask,
  inputs: DecoderInputs,
): string {
  const { g, weights: w } = ctx;
  const { hidden: H, heads, kvHeads, headDim: D } = s;
  const p = `layers.${i}`;
  const proj = (name: string, out: number, bias: boolean) =>
    linearLayer(g, w, `${p}.self_attn.${name}`, h, H, out, bias);
  const q = rotate(proj('q_proj', heads * D, s.qkvBias), heads);
  let k = rotate(proj('k_proj', kvHeads * D, s.qkvBias), kvHeads);
  let v = splitHeads(g, proj('v_proj', kvHeads * D, s.qkvBias), kvHeads, D);
  if (inputs.cache) ({ key: k, value: v } = inputs.cache(i, k, v));
  const groups = heads / kvHeads;
  const attn = attend(g, q, repeatKv(g, k, kvHeads, groups, D), repeatKv(g, v, kvHeads, groups, D), {
    scale: 1 / Math.sqrt(D),
    bias: mask.additive,
    rowValid: mask.rowValid,
  });
  return linearLayer(g, w, `${p}.self_attn.o_proj`, mergeHeads(g, attn, heads, D), heads * D, H, s.oBias);
}

/** A layer's gated MLP on its normed input: down(act(gate(h2)) * up(h2)). */
function mlpBlock(ctx: FamilyContext, s: LlamaSpec, i: number, h2: string): string {
  const { g, weights: w } = ctx;
  const mlp = (name: string, inF: number, outF: number, input: string) =>
    linearLayer(g, w, `layers.${i}.mlp.${name}`, input, inF, outF, s.mlpBias);
  const gated = g.mul(
    g.activation(mlp('gate_proj', s.hidden, s.intermediate, h2), s.act),
    mlp('up_proj', s.hidden, s.intermediate, h2),
  );
  return mlp('down_proj', s.intermediate, s.hidden, gated);
}

/**
 * One pre-norm layer on the residual stream. `rotate` applies RoPE to [batch, seq, heads × head_dim]
 * projections and returns [batch, heads, seq, head_dim]: standard ops in the portable graph,
 * com.microsoft RotaryEmbedding in the optimized one (where the stream fuses each residual add with
 * the RMSNorm after it).
 */
function layer(
  ctx: FamilyContext,
  s: LlamaSpec,
  i: number,
  stream: ResidualStream,
  rotate: (projected: string, heads: number) => string,
  mask: DecoderMask,
  inputs: DecoderInputs,
): void {
  const p = `layers.${i}`;
  stream.add(attentionBlock(ctx, s, i, stream.norm(`${p}.input_layernorm`), rotate, mask, inputs));
  stream.add(mlpBlock(ctx, s, i, stream.norm(`${p}.post_attention_layernorm`)));
}

export function buildLlama(ctx: FamilyContext): void {
  const { g, weights: w, signal } = ctx;
  const s = llamaSpec(ctx.config);
  const { hidden: H, vocab } = s;

  const inputs = decoderInputs(g, {
    kvCache: ctx.kvCache === true,
    layers: s.layers,
    kvHeads: s.kvHeads,
    headDim: s.headDim,
  });
  const { ids } = inputs;
  const { table: embed, quantizedTiedHead } = tokenEmbedding(
    g,
    w,
    'embed_tokens.weight',
    vocab,
    H,
    s.tied && ctx.task === 'text-generation',
  );
  const optimized = ctx.graph === 'optimized';
  if (optimized && s.maxPositions === undefined) {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `${s.modelType}: the optimized graph's rotary caches need max_position_embeddings in the config`,
    );
  }
  let rotate: (projected: string, heads: number) => string;
  if (optimized) {
    const caches = rotaryCaches(g, s.rope, s.maxPositions!);
    rotate = (projected, heads) =>
      splitHeads(g, rotaryOp(g, projected, inputs.positionIds, caches, heads), heads, s.headDim);
  } else {
    const rot = rotaryTables(g, s.rope, inputs.positionIds);
    rotate = (projected, heads) =>
      applyRotary(g, splitHeads(g, projected, heads, s.headDim), rot.cos, rot.sin, s.headDim);
  }
  const masks = new Map<number | undefined, DecoderMask>();
  const maskFor = (window: number | undefined) => {
    let m = masks.get(window);
    if (!m) masks.set(window, (m = decoderMask(g, inputs, window)));
    return m;
  };
  const stream = new ResidualStream(
    g,
    w,
    { kind: 'rms', size: H, eps: s.eps, fused: optimized },
    g.op('Gather', [embed, ids], { axis: 0 }),
  );
  ctx.progress(0.05, 'embeddings');
  for (let i = 0; i < s.layers; i++) {
    throwIfAborted(signal);
    layer(ctx, s, i, stream, rotate, maskFor(s.slidingWindows[i]), inputs);
    ctx.progress(0.05 + (0.85 * (i + 1)) / s.layers, `layer ${i + 1}/${s.layers}`);
  }
  const x = stream.norm('norm');
  throwIfAborted(signal);
  emitCausalLmHead(g, w, ctx.task, {
    x,
    ids,
    embedTable: embed,
    hidden: H,
    vocab,
    tied: s.tied,
    quantizedTiedHead,
  });
  inputs.declarePresents();
  ctx.progress(1, `${s.modelType} built`);
}
