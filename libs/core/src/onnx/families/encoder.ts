/**
 * Encoder family: BERT (and MiniLM / sentence-transformers checkpoints of it), RoBERTa, XLM-RoBERTa,
 * ELECTRA and DistilBERT, faithful to transformers' modeling code:
 * embeddings (word + position + token type) → LayerNorm → [ELECTRA: embeddings_project] →
 * N post-LN layers (self-attention + residual + LayerNorm, FFN + residual + LayerNorm) →
 * last hidden states, then the task's head (./heads): last_hidden_state (+ pooler_output when the model
 * has a pooler, + sentence_embedding with sentence-transformers pooling), or logits.
 */
import { CoreError, ErrorCode, throwIfAborted } from '../../errors';
import type { ConfigReader } from '../config';
import { ELEM_TYPE, type GraphBuilder } from '../graph';
import type { WeightSource } from '../weights';
import { emitEncoderHead } from './heads';
import {
  additiveMask,
  biasActivation,
  embeddingTable,
  fusedSelfAttention,
  layerNormLayer,
  linearLayer,
  linearParts,
  selfAttention,
  skipLayerNorm,
  type AttentionWeights,
} from './layers';
import type { FamilyContext, FamilyModule } from './types';

const BATCH = 'batch_size';
const SEQ = 'sequence_length';

/** Everything that differs between the encoder variants, read from the config once. */
export interface EncoderSpec {
  modelType: string;
  vocabSize: number;
  hidden: number;
  /** Embedding width (ELECTRA's embedding_size; the hidden size otherwise). */
  embeddingSize: number;
  layers: number;
  heads: number;
  intermediate: number;
  act: string;
  eps: number;
  maxPositions: number;
  typeVocabSize: number;
  padTokenId: number;
  /** RoBERTa-style position ids (counted from padding_idx + 1 over non-pad tokens). */
  paddingPositions: boolean;
  /** DistilBERT's fixed sinusoidal position table (used for random weights). */
  sinusoidalPositions: boolean;
  /** Whether the architecture can have a pooler (it is built when the weights hold one). */
  poolerCapable: boolean;
  names: EncoderNames;
}

/** Hugging Face tensor names of one architecture, relative to the base model. */
interface EncoderNames {
  word: string;
  position: string;
  tokenType?: string;
  embLayerNorm: string;
  project?: string;
  attention(i: number): AttentionWeights;
  attnLayerNorm(i: number): string;
  ffnIn(i: number): string;
  ffnOut(i: number): string;
  outLayerNorm(i: number): string;
  pooler: string;
}

const BERT_NAMES: EncoderNames = {
  word: 'embeddings.word_embeddings.weight',
  position: 'embeddings.position_embeddings.weight',
  tokenType: 'embeddings.token_type_embeddings.weight',
  embLayerNorm: 'embeddings.LayerNorm',
  project: 'embeddings_project',
  attention: (i) => ({
    query: `encoder.layer.${i}.attention.self.query`,
    key: `encoder.layer.${i}.attention.self.key`,
    value: `encoder.layer.${i}.attention.self.value`,
    output: `encoder.layer.${i}.attention.output.dense`,
  }),
  attnLayerNorm: (i) => `encoder.layer.${i}.attention.output.LayerNorm`,
  ffnIn: (i) => `encoder.layer.${i}.intermediate.dense`,
  ffnOut: (i) => `encoder.layer.${i}.output.dense`,
  outLayerNorm: (i) => `encoder.layer.${i}.output.LayerNorm`,
  pooler: 'pooler.dense',
};

const DISTILBERT_NAMES: EncoderNames = {
  word: 'embeddings.word_embeddings.weight',
  position: 'embeddings.position_embeddings.weight',
  embLayerNorm: 'embeddings.LayerNorm',
  attention: (i) => ({
    query: `transformer.layer.${i}.attention.q_lin`,
    key: `transformer.layer.${i}.attention.k_lin`,
    value: `transformer.layer.${i}.attention.v_lin`,
    output: `transformer.layer.${i}.attention.out_lin`,
  }),
  attnLayerNorm: (i) => `transformer.layer.${i}.sa_layer_norm`,
  ffnIn: (i) => `transformer.layer.${i}.ffn.lin1`,
  ffnOut: (i) => `transformer.layer.${i}.ffn.lin2`,
  outLayerNorm: (i) => `transformer.layer.${i}.output_layer_norm`,
  pooler: 'pooler.dense',
};

export const ENCODER_MODEL_TYPES = [
  'bert',
  'roberta',
  'xlm-roberta',
  'camembert',
  'electra',
  'distilbert',
] as const;

const PREFIXES: Record<string, string[]> = {
  bert: ['', 'bert.', 'model.'],
  roberta: ['', 'roberta.', 'model.'],
  'xlm-roberta': ['', 'roberta.', 'model.'],
  camembert: ['', 'roberta.', 'model.'],
  electra: ['', 'electra.', 'discriminator.', 'model.'],
  distilbert: ['', 'distilbert.', 'model.'],
};

export function encoderSpec(config: ConfigReader): EncoderSpec {
  const modelType = config.modelType;
  if (modelType === 'distilbert') {
    const hidden = config.int('dim');
    return {
      modelType,
      vocabSize: config.int('vocab_size'),
      hidden,
      embeddingSize: hidden,
      layers: config.int('n_layers'),
      heads: config.int('n_heads'),
      intermediate: config.int('hidden_dim'),
      act: config.str('activation', 'gelu'),
      eps: 1e-12,
      maxPositions: config.int('max_position_embeddings'),
      typeVocabSize: 0,
      padTokenId: config.num('pad_token_id', 0),
      paddingPositions: false,
      sinusoidalPositions: config.bool('sinusoidal_pos_embds', false),
      poolerCapable: false,
      names: DISTILBERT_NAMES,
    };
  }
  const positionType = config.str('position_embedding_type', 'absolute');
  if (positionType !== 'absolute') {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `${modelType}: position_embedding_type "${positionType}" is not supported (only "absolute")`,
    );
  }
  const hidden = config.int('hidden_size');
  const robertaLike = modelType === 'roberta' || modelType === 'xlm-roberta' || modelType === 'camembert';
  return {
    modelType,
    vocabSize: config.int('vocab_size'),
    hidden,
    embeddingSize: modelType === 'electra' ? config.int('embedding_size', hidden) : hidden,
    layers: config.int('num_hidden_layers'),
    heads: config.int('num_attention_heads'),
    intermediate: config.int('intermediate_size'),
    act: config.str('hidden_act', 'gelu'),
    eps: config.num('layer_norm_eps', 1e-12),
    maxPositions: config.int('max_position_embeddings'),
    typeVocabSize: config.num('type_vocab_size', 2),
    padTokenId: config.num('pad_token_id', robertaLike ? 1 : 0),
    paddingPositions: robertaLike,
    sinusoidalPositions: false,
    poolerCapable: modelType !== 'electra',
    names: BERT_NAMES,
  };
}

/** Whether the model takes token_type_ids (as transformers' ONNX exports do: type vocab > 1). */
export function hasTokenTypes(spec: EncoderSpec): boolean {
  return spec.typeVocabSize > 1 && spec.names.tokenType !== undefined;
}

/** DistilBERT's create_sinusoidal_embeddings table. */
export function sinusoidalTable(positions: number, dim: number): Float32Array {
  const out = new Float32Array(positions * dim);
  for (let pos = 0; pos < positions; pos++) {
    for (let j = 0; j < dim; j++) {
      const angle = pos / Math.pow(10000, (2 * Math.floor(j / 2)) / dim);
      out[pos * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return out;
}

/** Position embeddings [seq, E] (BERT) or [batch, seq, E] (RoBERTa, from input_ids). */
function positionEmbeddings(g: GraphBuilder, w: WeightSource, spec: EncoderSpec, ids: string): string {
  const { maxPositions: P, embeddingSize: E } = spec;
  const table =
    spec.sinusoidalPositions && w.kind === 'random'
      ? g.weight(spec.names.position, sinusoidalTable(P, E), [P, E])
      : embeddingTable(g, w, spec.names.position, P, E);
  if (!spec.paddingPositions) {
    // position_ids = arange(seq): the first seq rows of the table.
    return g.op('Slice', [table, g.constInt64([0]), g.dim(ids, 1), g.constInt64([0])]);
  }
  // create_position_ids_from_input_ids: cumsum(ids != pad) * (ids != pad) + pad.
  const notPad = g.op('Cast', [g.op('Not', [g.op('Equal', [ids, g.constInt64([spec.padTokenId], [])])])], {
    to: ELEM_TYPE.int64,
  });
  const cumsum = g.op('CumSum', [notPad, g.constInt64([1], [])]);
  const positionIds = g.add(g.mul(cumsum, notPad), g.constInt64([spec.padTokenId], []));
  return g.op('Gather', [table, positionIds], { axis: 0 });
}

function embeddings(
  g: GraphBuilder,
  w: WeightSource,
  spec: EncoderSpec,
  ids: string,
  types?: string,
): string {
  const { embeddingSize: E, names } = spec;
  const word = embeddingTable(g, w, names.word, spec.vocabSize, E);
  let x = g.add(g.op('Gather', [word, ids], { axis: 0 }), positionEmbeddings(g, w, spec, ids));
  if (names.tokenType && spec.typeVocabSize > 0) {
    const table = embeddingTable(g, w, names.tokenType, spec.typeVocabSize, E);
    // Without token_type_ids transformers uses zeros: row 0 of the table.
    const typeEmb = types
      ? g.op('Gather', [table, types], { axis: 0 })
      : g.op('Slice', [table, g.constInt64([0]), g.constInt64([1]), g.constInt64([0])]);
    x = g.add(x, typeEmb);
  }
  x = layerNormLayer(g, w, names.embLayerNorm, x, E, spec.eps);
  if (E !== spec.hidden) {
    if (!names.project)
      throw new CoreError(ErrorCode.INVALID_MODEL, `${spec.modelType}: embedding size != hidden`);
    x = linearLayer(g, w, names.project, x, E, spec.hidden);
  }
  return x;
}

/** One post-LN transformer layer (BERT / DistilBERT). */
function encoderLayer(
  g: GraphBuilder,
  w: WeightSource,
  spec: EncoderSpec,
  i: number,
  x: string,
  mask: string,
): string {
  const { hidden, names } = spec;
  const attn = selfAttention(g, w, x, names.attention(i), hidden, spec.heads, mask);
  const h = layerNormLayer(g, w, names.attnLayerNorm(i), g.add(attn, x), hidden, spec.eps);
  const inner = g.activation(linearLayer(g, w, names.ffnIn(i), h, hidden, spec.intermediate), spec.act);
  const out = linearLayer(g, w, names.ffnOut(i), inner, spec.intermediate, hidden);
  return layerNormLayer(g, w, names.outLayerNorm(i), g.add(out, h), hidden, spec.eps);
}

/**
 * The same post-LN layer with onnxruntime's fused contrib ops, as its transformer optimizer and
 * onnxruntime-genai emit them: packed QKV with MultiHeadAttention, BiasGelu / FastGelu, and
 * SkipLayerNormalization for each "residual + bias + LayerNorm". cpu, cuda and webgpu run them all
 * in onnxruntime 1.30.
 */
function encoderLayerOptimized(
  g: GraphBuilder,
  w: WeightSource,
  spec: EncoderSpec,
  i: number,
  x: string,
  attentionBias: string,
): string {
  const { hidden: H, names } = spec;
  const attn = fusedSelfAttention(g, w, x, names.attention(i), H, spec.heads, attentionBias);
  const h = skipLayerNorm(g, w, names.attnLayerNorm(i), attn.y, x, attn.bias, H, spec.eps);
  const ffnIn = linearParts(g, w, names.ffnIn(i), h, H, spec.intermediate, true);
  const inner = biasActivation(g, ffnIn.y, ffnIn.bias, spec.act, true);
  const out = linearParts(g, w, names.ffnOut(i), inner, spec.intermediate, H, true);
  return skipLayerNorm(g, w, names.outLayerNorm(i), out.y, h, out.bias, H, spec.eps);
}

export function buildEncoder(ctx: FamilyContext): void {
  const { g, weights: w, signal } = ctx;
  const spec = encoderSpec(ctx.config);
  ctx.config.headDim(spec.hidden, spec.heads);
  const ids = g.input('input_ids', 'int64', [BATCH, SEQ]);
  const maskInput = g.input('attention_mask', 'int64', [BATCH, SEQ]);
  const types = hasTokenTypes(spec) ? g.input('token_type_ids', 'int64', [BATCH, SEQ]) : undefined;

  let x = embeddings(g, w, spec, ids, types);
  const mask = additiveMask(g, maskInput);
  const optimized = ctx.graph === 'optimized';
  // MultiHeadAttention's attention_bias is [batch, 1, seq, seq]: the key mask for every query.
  const attentionBias = optimized
    ? g.op('Expand', [mask, g.concat([g.dim(ids, 0), g.constInt64([1]), g.dim(ids, 1), g.dim(ids, 1)], 0)])
    : mask;
  ctx.progress(0.05, 'embeddings');
  for (let i = 0; i < spec.layers; i++) {
    throwIfAborted(signal);
    x = optimized
      ? encoderLayerOptimized(g, w, spec, i, x, attentionBias)
      : encoderLayer(g, w, spec, i, x, mask);
    ctx.progress(0.05 + (0.9 * (i + 1)) / spec.layers, `layer ${i + 1}/${spec.layers}`);
  }
  throwIfAborted(signal);
  emitEncoderHead(ctx, {
    modelType: spec.modelType,
    x,
    ids,
    attentionMask: maskInput,
    hidden: spec.hidden,
    embeddingSize: spec.embeddingSize,
    vocabSize: spec.vocabSize,
    act: spec.act,
    eps: spec.eps,
    wordTable: spec.names.word,
    poolerCapable: spec.poolerCapable,
  });
  ctx.progress(1, 'encoder built');
}

export const encoderFamily: FamilyModule = {
  family: 'encoder',
  modelTypes: ENCODER_MODEL_TYPES,
  optimized: ENCODER_MODEL_TYPES,
  weightPrefixes: (modelType) => PREFIXES[modelType] ?? ['', 'model.'],
  build: buildEncoder,
};
