/**
 * Task heads, emitted beside the family that built the base model (the family describes the
 * architecture once; a head only reads its last hidden states). Faithful to transformers:
 *
 * - fill-mask: BertForMaskedLM (cls.predictions.transform dense → hidden_act → LayerNorm, decoder tied
 *   to the word embeddings + cls.predictions.bias), RobertaForMaskedLM / XLM-R / CamemBERT (lm_head.dense
 *   → gelu → lm_head.layer_norm → decoder tied + lm_head.bias), DistilBertForMaskedLM (vocab_transform →
 *   activation → vocab_layer_norm (eps 1e-12) → vocab_projector tied + bias), ElectraForMaskedLM
 *   (generator_predictions dense to embedding_size → gelu → LayerNorm → generator_lm_head tied + bias).
 *   An untied checkpoint (tie_word_embeddings false) carries the decoder's own weight.
 * - text-classification: BertForSequenceClassification (pooler → classifier), RobertaClassificationHead
 *   (classifier.dense on the first token → tanh → classifier.out_proj), DistilBERT (pre_classifier on the
 *   first token → ReLU → classifier), ElectraClassificationHead (classifier.dense → gelu → out_proj).
 * - token-classification: `classifier` on every token (no pooler).
 * - image-classification: ViTForImageClassification / DeiTForImageClassification (`classifier` on the
 *   first token of the final LayerNorm's output, no pooler); DeiTForImageClassificationWithTeacher
 *   ((cls_classifier(token 0) + distillation_classifier(token 1)) / 2).
 * - sentence embeddings (sentence-transformers Pooling + Normalize) on a feature-extraction graph.
 * Dropout is the identity at inference and is omitted.
 */
import { CoreError, ErrorCode } from '../../errors';
import type { Dim } from '../../types';
import { ELEM_TYPE, type GraphBuilder } from '../graph';
import { numLabels, type PoolingSpec } from '../tasks';
import type { WeightSource } from '../weights';
import { logitsFromTable } from './decoder-common';
import { firstTokenPooler, layerNormLayer, linearLayer } from './layers';
import type { FamilyContext } from './types';

const BATCH = 'batch_size';
const SEQ = 'sequence_length';

/** x[:, index] of [batch, seq, hidden] → [batch, hidden]. */
export function tokenAt(g: GraphBuilder, x: string, index: number): string {
  return g.squeeze(g.slice(x, 1, index, index + 1), [1]);
}

/** What an encoder head needs from the base model. */
export interface EncoderHeadInput {
  modelType: string;
  x: string;
  ids: string;
  attentionMask: string;
  hidden: number;
  embeddingSize: number;
  vocabSize: number;
  act: string;
  eps: number;
  /** The graph name of the word-embedding table [vocab, embeddingSize]. */
  wordTable: string;
  /** BERT-style pooler (`pooler.dense`) is part of the architecture. */
  poolerCapable: boolean;
}

interface MlmNames {
  dense: string;
  act: (h: EncoderHeadInput) => string;
  layerNorm: string;
  eps: (h: EncoderHeadInput) => number;
  decoder: string;
  bias: string[];
  /** Width of the transform's output (ELECTRA's generator: embedding_size). */
  width: (h: EncoderHeadInput) => number;
}

const ROBERTA_MLM: MlmNames = {
  dense: 'lm_head.dense',
  act: () => 'gelu',
  layerNorm: 'lm_head.layer_norm',
  eps: (h) => h.eps,
  decoder: 'lm_head.decoder.weight',
  bias: ['lm_head.bias', 'lm_head.decoder.bias'],
  width: (h) => h.hidden,
};

const MLM: Record<string, MlmNames> = {
  bert: {
    dense: 'cls.predictions.transform.dense',
    act: (h) => h.act,
    layerNorm: 'cls.predictions.transform.LayerNorm',
    eps: (h) => h.eps,
    decoder: 'cls.predictions.decoder.weight',
    bias: ['cls.predictions.bias', 'cls.predictions.decoder.bias'],
    width: (h) => h.hidden,
  },
  roberta: ROBERTA_MLM,
  'xlm-roberta': ROBERTA_MLM,
  camembert: ROBERTA_MLM,
  distilbert: {
    dense: 'vocab_transform',
    act: (h) => h.act,
    layerNorm: 'vocab_layer_norm',
    eps: () => 1e-12,
    decoder: 'vocab_projector.weight',
    bias: ['vocab_projector.bias'],
    width: (h) => h.hidden,
  },
  electra: {
    dense: 'generator_predictions.dense',
    act: () => 'gelu',
    layerNorm: 'generator_predictions.LayerNorm',
    eps: (h) => h.eps,
    decoder: 'generator_lm_head.weight',
    bias: ['generator_lm_head.bias'],
    width: (h) => h.embeddingSize,
  },
};

/** The first name the checkpoint holds (a random source holds them all: the first). */
function firstPresent(w: WeightSource, names: string[]): string {
  return names.find((n) => w.has(n)) ?? names[0]!;
}

function fillMask(ctx: FamilyContext, h: EncoderHeadInput): string {
  const { g, weights: w, config } = ctx;
  const names = MLM[h.modelType];
  if (!names) throw new CoreError(ErrorCode.UNPROCESSABLE, `no fill-mask head for ${h.modelType}`);
  const width = names.width(h);
  let t = linearLayer(g, w, names.dense, h.x, h.hidden, width);
  t = g.activation(t, names.act(h));
  t = layerNormLayer(g, w, names.layerNorm, t, width, names.eps(h));
  const tied = config.bool('tie_word_embeddings', true);
  const V = h.vocabSize;
  const table = tied ? h.wordTable : g.weight(names.decoder, w.get(names.decoder, [V, width]), [V, width]);
  const biasName = firstPresent(w, names.bias);
  const bias = g.weight(biasName, w.get(biasName, [V], { init: 'zeros' }), [V]);
  return g.add(logitsFromTable(g, t, table, h.ids, width, V), bias);
}

function sequenceClassification(ctx: FamilyContext, h: EncoderHeadInput, labels: number): string {
  const { g, weights: w } = ctx;
  const H = h.hidden;
  switch (h.modelType) {
    case 'bert': {
      const pooled = firstTokenPooler(g, w, 'pooler.dense', h.x, H, H, 'tanh');
      return linearLayer(g, w, 'classifier', pooled, H, labels);
    }
    case 'roberta':
    case 'xlm-roberta':
    case 'camembert':
    case 'electra': {
      const act = h.modelType === 'electra' ? 'gelu' : 'tanh';
      const dense = g.activation(linearLayer(g, w, 'classifier.dense', tokenAt(g, h.x, 0), H, H), act);
      return linearLayer(g, w, 'classifier.out_proj', dense, H, labels);
    }
    case 'distilbert': {
      const pre = g.op('Relu', [linearLayer(g, w, 'pre_classifier', tokenAt(g, h.x, 0), H, H)]);
      return linearLayer(g, w, 'classifier', pre, H, labels);
    }
    default:
      throw new CoreError(ErrorCode.UNPROCESSABLE, `no text-classification head for ${h.modelType}`);
  }
}

/**
 * sentence-transformers pooling of token states x [batch, seq, hidden] with the 0/1 attention mask:
 * mean (sum of unmasked tokens / max(count, 1e-9)), mean_sqrt_len (sum / sqrt(count)), max (masked
 * tokens set to -1e9 first), cls (token 0); then L2 normalisation (x / max(|x|, 1e-12)) when asked.
 * Computed in float32.
 */
export function sentencePooling(
  g: GraphBuilder,
  x: string,
  attentionMask: string,
  pooling: PoolingSpec,
): string {
  const x32 = g.toFloat32(x);
  let pooled: string;
  if (pooling.mode === 'cls') {
    pooled = tokenAt(g, x32, 0);
  } else {
    const m = g.unsqueeze(g.op('Cast', [attentionMask], { to: ELEM_TYPE.float32 }), [2]); // [B, S, 1] float32
    if (pooling.mode === 'max') {
      const masked = g.op('Where', [g.op('Cast', [m], { to: ELEM_TYPE.bool }), x32, g.constFloat32(-1e9)]);
      pooled = g.op('ReduceMax', [masked], { axes: [1], keepdims: 0 });
    } else {
      const sum = g.op('ReduceSum', [g.mul(x32, m), g.constInt64([1])], { keepdims: 0 });
      const count = g.op('ReduceSum', [m, g.constInt64([1])], { keepdims: 0 }); // [B, 1]
      const clamped = g.op('Max', [count, g.constFloat32(1e-9)]);
      pooled = g.div(sum, pooling.mode === 'mean' ? clamped : g.op('Sqrt', [clamped]));
    }
  }
  if (pooling.normalize) {
    const norm = g.op('ReduceL2', [pooled], { axes: [-1], keepdims: 1 });
    pooled = g.div(pooled, g.op('Max', [norm, g.constFloat32(1e-12)]));
  }
  return pooled;
}

/** Emits the outputs of `ctx.task` for a text encoder's last hidden states. */
export function emitEncoderHead(ctx: FamilyContext, h: EncoderHeadInput): void {
  const { g, weights: w } = ctx;
  const H = h.hidden;
  switch (ctx.task) {
    case 'feature-extraction': {
      g.output('last_hidden_state', 'float32', [BATCH, SEQ, H], h.x);
      if (h.poolerCapable && w.has('pooler.dense.weight')) {
        const pooled = firstTokenPooler(g, w, 'pooler.dense', h.x, H, H, 'tanh');
        g.output('pooler_output', 'float32', [BATCH, H], pooled);
      }
      if (ctx.pooling) {
        const e = sentencePooling(g, h.x, h.attentionMask, ctx.pooling);
        g.output('sentence_embedding', 'float32', [BATCH, H], e);
      }
      return;
    }
    case 'fill-mask':
      g.output('logits', 'float32', [BATCH, SEQ, h.vocabSize], fillMask(ctx, h));
      return;
    case 'text-classification': {
      const n = numLabels(ctx.config.raw);
      g.output('logits', 'float32', [BATCH, n], sequenceClassification(ctx, h, n));
      return;
    }
    case 'token-classification': {
      const n = numLabels(ctx.config.raw);
      g.output('logits', 'float32', [BATCH, SEQ, n], linearLayer(g, w, 'classifier', h.x, H, n));
      return;
    }
    default:
      throw new CoreError(ErrorCode.UNPROCESSABLE, `a text encoder has no ${ctx.task} head`);
  }
}

/** What a vision head needs from the base model (x: the final LayerNorm's output). */
export interface VisionHeadInput {
  modelType: string;
  x: string;
  hidden: number;
  seq: number;
  poolerSize: number;
  poolerAct: string;
}

/** Emits the outputs of `ctx.task` for ViT / DeiT. */
export function emitVisionHead(ctx: FamilyContext, h: VisionHeadInput): void {
  const { g, weights: w } = ctx;
  const H = h.hidden;
  if (ctx.task === 'feature-extraction') {
    const dims: Dim[] = [BATCH, h.seq, H];
    g.output('last_hidden_state', 'float32', dims, h.x);
    if (w.has('pooler.dense.weight')) {
      const pooled = firstTokenPooler(g, w, 'pooler.dense', h.x, H, h.poolerSize, h.poolerAct);
      g.output('pooler_output', 'float32', [BATCH, h.poolerSize], pooled);
    }
    return;
  }
  if (ctx.task !== 'image-classification') {
    throw new CoreError(ErrorCode.UNPROCESSABLE, `a vision model has no ${ctx.task} head`);
  }
  const n = numLabels(ctx.config.raw);
  const archs = ctx.config.raw.architectures;
  const teacher =
    h.modelType === 'deit' &&
    Array.isArray(archs) &&
    archs.some((a) => typeof a === 'string' && a.endsWith('WithTeacher'));
  let logits: string;
  if (teacher) {
    const cls = linearLayer(g, w, 'cls_classifier', tokenAt(g, h.x, 0), H, n);
    const dist = linearLayer(g, w, 'distillation_classifier', tokenAt(g, h.x, 1), H, n);
    logits = g.div(g.add(cls, dist), g.constFloat(2));
  } else {
    logits = linearLayer(g, w, 'classifier', tokenAt(g, h.x, 0), H, n);
  }
  g.output('logits', 'float32', [BATCH, n], logits);
}
