/**
 * Vision family: ViT and DeiT, faithful to transformers' ViTModel / DeiTModel:
 * patch Conv (kernel = stride = patch_size) → flatten → [CLS (+ DeiT distillation token), patches] +
 * position embeddings → N pre-LN layers (LN → attention → residual, LN → MLP → residual) → final
 * LayerNorm, then the task's head (./heads): last_hidden_state (+ pooler_output, dense + pooler_act on
 * the first token, when the weights hold a pooler), or the image classifier's logits.
 */
import { throwIfAborted } from '../../errors';
import type { ConfigReader } from '../config';
import type { GraphBuilder } from '../graph';
import type { WeightSource } from '../weights';
import { emitVisionHead } from './heads';
import { biasActivation, fusedSelfAttention, linearParts, selfAttention } from './layers';
import { ResidualStream } from './residual';
import type { FamilyContext, FamilyModule } from './types';

const BATCH = 'batch_size';

export const VISION_MODEL_TYPES = ['vit', 'deit'] as const;

export interface VisionSpec {
  modelType: string;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  act: string;
  eps: number;
  imageSize: number;
  patchSize: number;
  channels: number;
  qkvBias: boolean;
  /** CLS, plus DeiT's distillation token. */
  extraTokens: number;
  poolerSize: number;
  poolerAct: string;
}

export function visionSpec(config: ConfigReader): VisionSpec {
  const hidden = config.int('hidden_size');
  return {
    modelType: config.modelType,
    hidden,
    layers: config.int('num_hidden_layers'),
    heads: config.int('num_attention_heads'),
    intermediate: config.int('intermediate_size'),
    act: config.str('hidden_act', 'gelu'),
    eps: config.num('layer_norm_eps', 1e-12),
    imageSize: config.int('image_size', 224),
    patchSize: config.int('patch_size', 16),
    channels: config.int('num_channels', 3),
    qkvBias: config.bool('qkv_bias', true),
    extraTokens: config.modelType === 'deit' ? 2 : 1,
    poolerSize: config.int('pooler_output_size', hidden),
    poolerAct: config.str('pooler_act', 'tanh'),
  };
}

/** Patches per image (image_size / patch_size squared). */
export function numPatches(spec: VisionSpec): number {
  return Math.floor(spec.imageSize / spec.patchSize) ** 2;
}

/** A [1, 1, H] learned token broadcast to [batch, 1, H]. */
function batchToken(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  hidden: number,
  batchDim: string,
): string {
  const token = g.weight(name, w.get(name, [1, 1, hidden]), [1, 1, hidden]);
  return g.op('Expand', [token, g.concat([batchDim, g.constInt64([1, hidden])], 0)]);
}

function embeddings(g: GraphBuilder, w: WeightSource, spec: VisionSpec, pixels: string): string {
  const { hidden: H, channels: C, patchSize: P } = spec;
  const convW = 'embeddings.patch_embeddings.projection.weight';
  const convB = 'embeddings.patch_embeddings.projection.bias';
  const kernel = g.weight(convW, w.get(convW, [H, C, P, P]), [H, C, P, P]);
  const bias = g.weight(convB, w.get(convB, [H]), [H]);
  const conv = g.op('Conv', [pixels, kernel, bias], { kernel_shape: [P, P], strides: [P, P] });
  // [B, H, h, w] → [B, h*w, H]
  const patches = g.transpose(g.reshape(conv, [0, 0, -1]), [0, 2, 1]);
  const batchDim = g.dim(pixels, 0);
  const tokens = [batchToken(g, w, 'embeddings.cls_token', H, batchDim)];
  if (spec.extraTokens === 2) tokens.push(batchToken(g, w, 'embeddings.distillation_token', H, batchDim));
  const seq = numPatches(spec) + spec.extraTokens;
  const posName = 'embeddings.position_embeddings';
  const positions = g.weight(posName, w.get(posName, [1, seq, H]), [1, seq, H]);
  return g.add(g.concat([...tokens, patches], 1), positions);
}

/**
 * One pre-LN ViT layer on the residual stream. Optimized: packed QKV with MultiHeadAttention,
 * BiasGelu / FastGelu, and each residual add fused with the LayerNorm after it.
 */
function visionLayer(
  g: GraphBuilder,
  w: WeightSource,
  spec: VisionSpec,
  i: number,
  stream: ResidualStream,
  fused: boolean,
): void {
  const p = `encoder.layer.${i}`;
  const { hidden: H } = spec;
  const normed = stream.norm(`${p}.layernorm_before`);
  const names = {
    query: `${p}.attention.attention.query`,
    key: `${p}.attention.attention.key`,
    value: `${p}.attention.attention.value`,
    output: `${p}.attention.output.dense`,
    qkvBias: spec.qkvBias,
  };
  if (fused) {
    const attn = fusedSelfAttention(g, w, normed, names, H, spec.heads, undefined);
    stream.add(attn.y, attn.bias);
  } else {
    stream.add(selfAttention(g, w, normed, names, H, spec.heads, undefined));
  }
  const normed2 = stream.norm(`${p}.layernorm_after`);
  const ffnIn = linearParts(g, w, `${p}.intermediate.dense`, normed2, H, spec.intermediate, fused);
  const inner = biasActivation(g, ffnIn.y, ffnIn.bias, spec.act, fused);
  const out = linearParts(g, w, `${p}.output.dense`, inner, spec.intermediate, H, fused);
  stream.add(out.y, out.bias);
}

export function buildVision(ctx: FamilyContext): void {
  const { g, weights: w, signal } = ctx;
  const spec = visionSpec(ctx.config);
  ctx.config.headDim(spec.hidden, spec.heads);
  const S = spec.imageSize;
  const pixels = g.input('pixel_values', 'float32', [BATCH, spec.channels, S, S]);
  const fused = ctx.graph === 'optimized';
  const stream = new ResidualStream(
    g,
    w,
    { kind: 'layer', size: spec.hidden, eps: spec.eps, fused },
    embeddings(g, w, spec, g.toCompute(pixels)),
  );
  ctx.progress(0.05, 'embeddings');
  for (let i = 0; i < spec.layers; i++) {
    throwIfAborted(signal);
    visionLayer(g, w, spec, i, stream, fused);
    ctx.progress(0.05 + (0.9 * (i + 1)) / spec.layers, `layer ${i + 1}/${spec.layers}`);
  }
  throwIfAborted(signal);
  const x = stream.norm('layernorm');
  emitVisionHead(ctx, {
    modelType: spec.modelType,
    x,
    hidden: spec.hidden,
    seq: numPatches(spec) + spec.extraTokens,
    poolerSize: spec.poolerSize,
    poolerAct: spec.poolerAct,
  });
  ctx.progress(1, 'vision model built');
}

export const visionFamily: FamilyModule = {
  family: 'vision',
  modelTypes: VISION_MODEL_TYPES,
  optimized: VISION_MODEL_TYPES,
  weightPrefixes: (modelType) => (modelType === 'deit' ? ['', 'deit.', 'vit.'] : ['', 'vit.', 'deit.']),
  build: buildVision,
};
