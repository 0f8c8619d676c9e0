/**
 * GPT-2 (GPT2LMHeadModel), faithful to transformers 5.x:
 * wte[input_ids] + wpe[arange(seq)] → N pre-LN blocks (ln_1 → fused c_attn split into q, k, v →
 * causal + padding masked attention scaled by 1/sqrt(head_dim) [/ (layer + 1)] → c_proj → residual;
 * ln_2 → c_fc → activation_function → mlp.c_proj → residual) → ln_f → tied lm_head → logits.
 * Conv1D weights are stored [in, out], so they go to MatMul untransposed.
 * With a KV cache, wpe is indexed by the position_ids input (transformers' generate() passes
 * cumsum(attention_mask) - 1, so left-padded rows get the positions of their own tokens).
 */
import { CoreError, ErrorCode, throwIfAborted } from '../../errors';
import type { ConfigReader } from '../config';
import { biasActivation } from './layers';
import { ResidualStream } from './residual';
import {
  attend,
  conv1dParts,
  decoderInputs,
  decoderMask,
  emitCausalLmHead,
  mergeHeads,
  splitHeads,
  tokenEmbedding,
} from './decoder-common';
import type { FamilyContext } from './types';

export interface Gpt2Spec {
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  inner: number;
  positions: number;
  eps: number;
  act: string;
  scaleAttnWeights: boolean;
  scaleByInverseLayerIdx: boolean;
  tied: boolean;
}

export function gpt2Spec(config: ConfigReader): Gpt2Spec {
  const hidden = config.int(['n_embd', 'hidden_size']);
  const heads = config.int(['n_head', 'num_attention_heads']);
  config.headDim(hidden, heads);
  if (config.bool('add_cross_attention', false)) {
    throw new CoreError(ErrorCode.INVALID_MODEL, 'gpt2: add_cross_attention is not supported');
  }
  return {
    vocab: config.int('vocab_size'),
    hidden,
    layers: config.int(['n_layer', 'num_hidden_layers']),
    heads,
    inner: config.has('n_inner') ? config.int('n_inner') : 4 * hidden,
    positions: config.int(['n_positions', 'max_position_embeddings']),
    eps: config.num('layer_norm_epsilon', 1e-5),
    act: config.str('activation_function', 'gelu_new'),
    scaleAttnWeights: config.bool('scale_attn_weights', true),
    scaleByInverseLayerIdx: config.bool('scale_attn_by_inverse_layer_idx', false),
    tied: config.bool('tie_word_embeddings', true),
  };
}

export function buildGpt2(ctx: FamilyContext): void {
  const { g, weights: w, signal } = ctx;
  const s = gpt2Spec(ctx.config);
  const { hidden: H, heads, vocab } = s;
  const headDim = H / heads;

  const inputs = decoderInputs(g, {
    kvCache: ctx.kvCache === true,
    layers: s.layers,
    kvHeads: heads,
    headDim,
  });
  const { ids } = inputs;
  const { table: wte, quantizedTiedHead } = tokenEmbedding(
    g,
    w,
    'wte.weight',
    vocab,
    H,
    s.tied && ctx.task === 'text-generation',
  );
  const wpe = g.weight('wpe.weight', w.get('wpe.weight', [s.positions, H]), [s.positions, H]);
  const x0 = g.add(
    g.op('Gather', [wte, ids], { axis: 0 }),
    g.op('Gather', [wpe, inputs.positionIds], { axis: 0 }),
  );
  const mask = decoderMask(g, inputs);
  ctx.progress(0.05, 'embeddings');

  // Optimized: each residual add (and its projection's bias) fuses with the LayerNorm after it, and
  // the MLP's bias with its activation (FastGelu for gelu_new); attention stays standard ops.
  const fused = ctx.graph === 'optimized';
  const stream = new ResidualStream(g, w, { kind: 'layer', size: H, eps: s.eps, fused }, x0);
  for (let i = 0; i < s.layers; i++) {
    throwIfAborted(signal);
    const p = `h.${i}`;
    const h = stream.norm(`${p}.ln_1`);
    const qkv = conv1dParts(g, w, `${p}.attn.c_attn`, h, H, 3 * H).y;
    const [q, k, v] = g.node('Split', [qkv, g.constInt64([H, H, H])], 3, { axis: -1 });
    let scale = s.scaleAttnWeights ? 1 / Math.sqrt(headDim) : 1;
    if (s.scaleByInverseLayerIdx) scale /= i + 1;
    let key = splitHeads(g, k!, heads, headDim);
    let value = splitHeads(g, v!, heads, headDim);
    if (inputs.cache) ({ key, value } = inputs.cache(i, key, value));
    const attn = attend(g, splitHeads(g, q!, heads, headDim), key, value, {
      scale,
      bias: mask.additive,
      rowValid: mask.rowValid,
    });
    const o = conv1dParts(g, w, `${p}.attn.c_proj`, mergeHeads(g, attn, heads, headDim), H, H, fused);
    stream.add(o.y, o.bias);
    const fc = conv1dParts(g, w, `${p}.mlp.c_fc`, stream.norm(`${p}.ln_2`), H, s.inner, fused);
    const inner = biasActivation(g, fc.y, fc.bias, s.act, fused);
    const out = conv1dParts(g, w, `${p}.mlp.c_proj`, inner, s.inner, H, fused);
    stream.add(out.y, out.bias);
    ctx.progress(0.05 + (0.85 * (i + 1)) / s.layers, `layer ${i + 1}/${s.layers}`);
  }
  throwIfAborted(signal);
  const x = stream.norm('ln_f');
  // GPT2LMHeadModel ties lm_head to wte; an untied checkpoint carries lm_head.weight [vocab, hidden].
  emitCausalLmHead(g, w, ctx.task, {
    x,
    ids,
    embedTable: wte,
    hidden: H,
    vocab,
    tied: s.tied,
    quantizedTiedHead,
  });
  inputs.declarePresents();
  ctx.progress(1, 'gpt2 built');
}
