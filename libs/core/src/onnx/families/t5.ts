/**
 * T5 / Flan-T5 (T5Model semantics), faithful to transformers' modeling_t5:
 * - shared embedding `shared.weight` for encoder and decoder (no scaling of the embeddings);
 * - T5LayerNorm = RMS norm in float32, no mean subtraction, no bias;
 * - attention without biases and WITHOUT 1/sqrt(d_kv) scaling; a relative position bias computed by
 *   the first block's relative_attention_bias (bidirectional buckets in the encoder, unidirectional in
 *   the decoder) plus the additive mask, shared by every block of the stack; cross-attention has no
 *   position bias, only the encoder padding mask;
 * - feed-forward per feed_forward_proj: `relu` → wo(relu(wi x)), `gated-gelu` → wo(gelu_new(wi_0 x) *
 *   wi_1 x), and generally `[gated-]<act>`;
 * - encoder final_layer_norm, decoder final_layer_norm → last_hidden_state of the decoder
 *   (feature-extraction), or T5ForConditionalGeneration's lm_head → logits (text2text-generation, the
 *   full decoder pass without cache): tied to `shared` with the d_model^-0.5 rescaling when
 *   tie_word_embeddings, else its own `lm_head.weight`.
 * Inputs input_ids, attention_mask [batch_size, sequence_length] and decoder_input_ids
 * [batch_size, decoder_sequence_length]; the decoder self-attention is causal (no decoder mask input,
 * as T5Model uses when decoder_attention_mask is not given).
 *
 * Masks are additive with the most negative finite value (transformers' eager path): a padded key
 * contributes exactly 0 to any query that has an unpadded key.
 */
import { CoreError, ErrorCode, throwIfAborted } from '../../errors';
import type { ConfigReader } from '../config';
import type { GraphBuilder } from '../graph';
import type { WeightSource } from '../weights';
import { linearLayer } from './layers';
import { ResidualStream } from './residual';
import {
  BATCH,
  SEQ,
  attend,
  logitsFromTable,
  mergeHeads,
  sequencePositions,
  splitHeads,
  tokenEmbedding,
} from './decoder-common';
import type { FamilyContext, FamilyModule } from './types';

export const DECODER_SEQ = 'decoder_sequence_length';

export interface T5Spec {
  vocab: number;
  dModel: number;
  dKv: number;
  dFf: number;
  layers: number;
  decoderLayers: number;
  heads: number;
  buckets: number;
  maxDistance: number;
  eps: number;
  act: string;
  gated: boolean;
}

export function t5Spec(config: ConfigReader): T5Spec {
  const proj = config.str('feed_forward_proj', 'relu');
  const parts = proj.split('-');
  if ((parts.length > 1 && parts[0] !== 'gated') || parts.length > 2) {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `t5: feed_forward_proj "${proj}" is not [gated-]{activation}`,
    );
  }
  const layers = config.int('num_layers');
  return {
    vocab: config.int('vocab_size'),
    dModel: config.int('d_model'),
    dKv: config.int('d_kv'),
    dFf: config.int('d_ff'),
    layers,
    decoderLayers: config.int('num_decoder_layers', layers),
    heads: config.int('num_heads'),
    buckets: config.int('relative_attention_num_buckets', 32),
    maxDistance: config.int('relative_attention_max_distance', 128),
    eps: config.num('layer_norm_epsilon', 1e-6),
    // T5Config: "gated-gelu" means gelu_new for backwards compatibility.
    act: proj === 'gated-gelu' ? 'gelu_new' : parts[parts.length - 1]!,
    gated: parts[0] === 'gated',
  };
}

const f32 = Math.fround;

/** transformers' T5Attention._relative_position_bucket for one relative position (memory - context). */
export function relativePositionBucket(
  relativePosition: number,
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): number {
  let buckets = 0;
  let n = numBuckets;
  let rp = relativePosition;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rp > 0) buckets += n;
    rp = Math.abs(rp);
  } else {
    rp = -Math.min(rp, 0);
  }
  const maxExact = Math.floor(n / 2);
  if (rp < maxExact) return buckets + rp;
  // log(rp.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact), in float32
  const scaled = f32(
    f32(f32(Math.log(f32(rp / maxExact))) / f32(Math.log(maxDistance / maxExact))) * (n - maxExact),
  );
  return buckets + Math.min(maxExact + Math.trunc(scaled), n - 1);
}

/**
 * The bucket of every relative position in [-bound, bound] (index = position + bound). Buckets are
 * constant beyond max_distance, so the graph clamps relative positions to ±bound and gathers.
 */
export function bucketTable(
  bidirectional: boolean,
  numBuckets: number,
  maxDistance: number,
): { table: BigInt64Array; bound: number } {
  const n = bidirectional ? Math.floor(numBuckets / 2) : numBuckets;
  if (maxDistance < Math.floor(n / 2)) {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `t5: relative_attention_max_distance ${maxDistance} is below the exact range ${Math.floor(n / 2)}`,
    );
  }
  const bound = maxDistance;
  const table = new BigInt64Array(2 * bound + 1);
  for (let i = 0; i < table.length; i++) {
    table[i] = BigInt(relativePositionBucket(i - bound, bidirectional, numBuckets, maxDistance));
  }
  return { table, bound };
}

/** compute_bias: [1, heads, q, k] from relative_attention_bias.weight [buckets, heads]. */
function relativeBias(
  g: GraphBuilder,
  w: WeightSource,
  s: T5Spec,
  name: string,
  qPositions: string,
  kPositions: string,
  bidirectional: boolean,
): string {
  const weight = g.weight(name, w.get(name, [s.buckets, s.heads]), [s.buckets, s.heads]);
  const { table, bound } = bucketTable(bidirectional, s.buckets, s.maxDistance);
  const tableName = g.constInt64([...table], [table.length]);
  const rel = g.sub(g.unsqueeze(kPositions, [0]), g.unsqueeze(qPositions, [1])); // memory - context [q, k]
  const clamped = g.op('Min', [g.op('Max', [rel, g.constInt64([-bound], [])]), g.constInt64([bound], [])]);
  const buckets = g.op('Gather', [tableName, g.add(clamped, g.constInt64([bound], []))], { axis: 0 });
  const values = g.op('Gather', [weight, buckets], { axis: 0 }); // [q, k, heads]
  return g.unsqueeze(g.transpose(values, [2, 0, 1]), [0]);
}

interface AttnNames {
  prefix: string;
}

/** A KV cache of one attention: its past key/value inputs, and where the joined ones go. */
interface AttnCache {
  pastKey: string;
  pastValue: string;
  present(key: string, value: string): void;
}

/**
 * T5Attention without scaling: o(softmax(q k^T + positionBias) v). With a cache, the keys and values
 * of `kv` are appended to the past ones (an empty `kv` leaves the past as it is).
 */
function t5Attention(
  g: GraphBuilder,
  w: WeightSource,
  s: T5Spec,
  { prefix }: AttnNames,
  x: string,
  kv: string,
  positionBias: string,
  cache?: AttnCache,
): string {
  const inner = s.heads * s.dKv;
  const proj = (n: string, input: string) =>
    splitHeads(g, linearLayer(g, w, `${prefix}.${n}`, input, s.dModel, inner, false), s.heads, s.dKv);
  let key = proj('k', kv);
  let value = proj('v', kv);
  if (cache) {
    key = g.concat([cache.pastKey, key], 2);
    value = g.concat([cache.pastValue, value], 2);
    cache.present(key, value);
  }
  const ctx = attend(g, proj('q', x), key, value, {
    scale: 1,
    bias: positionBias,
    softmaxFp32: true,
  });
  return linearLayer(g, w, `${prefix}.o`, mergeHeads(g, ctx, s.heads, s.dKv), inner, s.dModel, false);
}

/** T5DenseActDense / T5DenseGatedActDense. */
function t5FeedForward(g: GraphBuilder, w: WeightSource, s: T5Spec, prefix: string, x: string): string {
  const lin = (n: string, input: string, inF: number, outF: number) =>
    linearLayer(g, w, `${prefix}.${n}`, input, inF, outF, false);
  const h = s.gated
    ? g.mul(g.activation(lin('wi_0', x, s.dModel, s.dFf), s.act), lin('wi_1', x, s.dModel, s.dFf))
    : g.activation(lin('wi', x, s.dModel, s.dFf), s.act);
  return lin('wo', h, s.dFf, s.dModel);
}

/** (1 - mask) * min as [batch, 1, 1, seq]. */
function paddingBias(g: GraphBuilder, mask: string): string {
  const inverted = g.sub(g.constFloat(1), g.castCompute(mask));
  return g.unsqueeze(g.mul(inverted, g.constFloat(g.minValue)), [1, 2]);
}

/** The embedding table: shared.weight, or a checkpoint's encoder.embed_tokens.weight when it lacks it. */
function sharedEmbedding(g: GraphBuilder, w: WeightSource, s: T5Spec, tiedHead: boolean) {
  const name =
    w.has('shared.weight') || !w.has('encoder.embed_tokens.weight')
      ? 'shared.weight'
      : 'encoder.embed_tokens.weight';
  return tokenEmbedding(g, w, name, s.vocab, s.dModel, tiedHead);
}

/**
 * The KV-cache inputs of the decoder: per layer `past_key_values.{i}.decoder.key/value` (self-attention,
 * [batch, heads, past_decoder_sequence_length, d_kv]) and `past_key_values.{i}.encoder.key/value`
 * (cross-attention keys/values of the encoder output, [batch, heads, encoder_sequence_length, d_kv]).
 */
function t5PastInputs(
  g: GraphBuilder,
  s: T5Spec,
): { caches: { decoder: AttnCache; encoder: AttnCache }[]; declarePresents(): void } {
  const presents: { name: string; value: string; dim: string }[] = [];
  const caches: { decoder: AttnCache; encoder: AttnCache }[] = [];
  for (let i = 0; i < s.decoderLayers; i++) {
    const make = (part: 'decoder' | 'encoder'): AttnCache => {
      const pastDim = part === 'decoder' ? PAST_DECODER_SEQ : PAST_ENCODER_SEQ;
      const dims = [BATCH, s.heads, pastDim, s.dKv];
      return {
        pastKey: g.input(`past_key_values.${i}.${part}.key`, g.computeDtype, dims),
        pastValue: g.input(`past_key_values.${i}.${part}.value`, g.computeDtype, dims),
        present: (key, value) => {
          const dim = part === 'decoder' ? TOTAL_DECODER_SEQ : ENCODER_SEQ;
          presents.push({ name: `present.${i}.${part}.key`, value: key, dim });
          presents.push({ name: `present.${i}.${part}.value`, value, dim });
        },
      };
    };
    caches.push({ decoder: make('decoder'), encoder: make('encoder') });
  }
  const declarePresents = () => {
    // Ordered as optimum orders them: per layer decoder key, value, encoder key, value.
    const order = (n: string) => {
      const [, layer, part, kind] = n.split('.');
      return Number(layer) * 4 + (part === 'decoder' ? 0 : 2) + (kind === 'key' ? 0 : 1);
    };
    for (const p of [...presents].sort((a, b) => order(a.name) - order(b.name))) {
      g.output(p.name, g.computeDtype, [BATCH, s.heads, p.dim, s.dKv], p.value);
    }
  };
  return { caches, declarePresents };
}

export const ENCODER_SEQ = 'encoder_sequence_length';
export const PAST_DECODER_SEQ = 'past_decoder_sequence_length';
export const PAST_ENCODER_SEQ = 'past_encoder_sequence_length';
export const TOTAL_DECODER_SEQ = 'total_decoder_sequence_length';

export function buildT5(ctx: FamilyContext): void {
  const { g, weights: w, signal } = ctx;
  const s = t5Spec(ctx.config);
  const total = s.layers + s.decoderLayers;
  const kvCache = ctx.kvCache === true;

  // With a cache the encoder runs at the first step only: later steps pass input_ids and
  // attention_mask with 0 tokens (the encoder then computes nothing) and encoder_attention_mask,
  // which masks the cross-attention over the cached encoder keys/values.
  const ids = g.input('input_ids', 'int64', [BATCH, SEQ]);
  const mask = g.input('attention_mask', 'int64', [BATCH, SEQ]);
  const crossMaskInput = kvCache ? g.input('encoder_attention_mask', 'int64', [BATCH, ENCODER_SEQ]) : mask;
  const decIds = g.input('decoder_input_ids', 'int64', [BATCH, DECODER_SEQ]);
  const past = kvCache ? t5PastInputs(g, s) : undefined;
  const caches = past?.caches;
  const tied = ctx.config.bool('tie_word_embeddings', true);
  const { table: shared, quantizedTiedHead } = sharedEmbedding(
    g,
    w,
    s,
    tied && ctx.task === 'text2text-generation',
  );

  // Encoder: position bias (bidirectional buckets) + padding mask, computed once for every block.
  const encPos = sequencePositions(g, ids);
  const encMask = paddingBias(g, mask);
  const encBias = g.add(
    relativeBias(
      g,
      w,
      s,
      'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight',
      encPos,
      encPos,
      true,
    ),
    encMask,
  );
  // Optimized: every residual add fuses with the RMSNorm after it (SkipSimplifiedLayerNormalization).
  const norms = { kind: 'rms' as const, size: s.dModel, eps: s.eps, fused: ctx.graph === 'optimized' };
  const enc = new ResidualStream(g, w, norms, g.op('Gather', [shared, ids], { axis: 0 }));
  for (let i = 0; i < s.layers; i++) {
    throwIfAborted(signal);
    const p = `encoder.block.${i}.layer`;
    const h = enc.norm(`${p}.0.layer_norm`);
    enc.add(t5Attention(g, w, s, { prefix: `${p}.0.SelfAttention` }, h, h, encBias));
    enc.add(t5FeedForward(g, w, s, `${p}.1.DenseReluDense`, enc.norm(`${p}.1.layer_norm`)));
    ctx.progress((0.95 * (i + 1)) / total, `encoder block ${i + 1}/${s.layers}`);
  }
  const encoded = enc.norm('encoder.final_layer_norm');
  const crossMask = kvCache ? paddingBias(g, crossMaskInput) : encMask;

  // Decoder: unidirectional buckets + causal mask; cross-attention sees only the encoder padding mask.
  // With a cache the queries are the new tokens (past .. past + T - 1), the keys every token so far.
  let qPos = sequencePositions(g, decIds);
  let kPos = qPos;
  if (caches) {
    const pastLength = g.squeeze(g.dim(caches[0]!.decoder.pastKey, 2), [0]);
    const end = g.add(pastLength, g.squeeze(g.dim(decIds, 1), [0]));
    const one = g.constInt64([1], []);
    qPos = g.op('Range', [pastLength, end, one]);
    kPos = g.op('Range', [g.constInt64([0], []), end, one]);
  }
  const causal = g.op('Where', [
    g.op('LessOrEqual', [g.unsqueeze(kPos, [0]), g.unsqueeze(qPos, [1])]),
    g.constFloat(0),
    g.constFloat(g.minValue),
  ]); // [T, past + T]
  const decBias = g.add(
    relativeBias(
      g,
      w,
      s,
      'decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight',
      qPos,
      kPos,
      false,
    ),
    causal,
  );
  const dec = new ResidualStream(g, w, norms, g.op('Gather', [shared, decIds], { axis: 0 }));
  for (let i = 0; i < s.decoderLayers; i++) {
    throwIfAborted(signal);
    const p = `decoder.block.${i}.layer`;
    const h = dec.norm(`${p}.0.layer_norm`);
    const cache = caches?.[i];
    dec.add(t5Attention(g, w, s, { prefix: `${p}.0.SelfAttention` }, h, h, decBias, cache?.decoder));
    const h2 = dec.norm(`${p}.1.layer_norm`);
    dec.add(
      t5Attention(g, w, s, { prefix: `${p}.1.EncDecAttention` }, h2, encoded, crossMask, cache?.encoder),
    );
    dec.add(t5FeedForward(g, w, s, `${p}.2.DenseReluDense`, dec.norm(`${p}.2.layer_norm`)));
    ctx.progress((0.95 * (s.layers + i + 1)) / total, `decoder block ${i + 1}/${s.decoderLayers}`);
  }
  throwIfAborted(signal);
  const y = dec.norm('decoder.final_layer_norm');
  if (ctx.task === 'text2text-generation') {
    // T5ForConditionalGeneration: tied → (y * d_model^-0.5) @ shared^T; untied → y @ lm_head.weight^T.
    const scaled = tied ? g.mul(y, g.constFloat(s.dModel ** -0.5)) : y;
    let logits: string;
    if (g.quantized) {
      // int8/int4: a quantized projection (tied: quantized from the shared table as it was read).
      const head =
        quantizedTiedHead ??
        g.projectionWeight(
          'lm_head.weight',
          { data: w.get('lm_head.weight', [s.vocab, s.dModel]), layout: 'out-in' },
          s.dModel,
          s.vocab,
        );
      logits = g.applyProjection(scaled, head);
    } else {
      const head = tied
        ? shared
        : g.weight('lm_head.weight', w.get('lm_head.weight', [s.vocab, s.dModel]), [s.vocab, s.dModel]);
      logits = logitsFromTable(g, scaled, head, decIds, s.dModel, s.vocab);
    }
    g.output('logits', 'float32', [BATCH, DECODER_SEQ, s.vocab], logits);
  } else if (ctx.task === 'feature-extraction') {
    g.output('last_hidden_state', 'float32', [BATCH, DECODER_SEQ, s.dModel], y);
  } else {
    throw new CoreError(ErrorCode.UNPROCESSABLE, `t5 has no ${ctx.task} head`);
  }
  past?.declarePresents();
  ctx.progress(1, 't5 built');
}

export const t5Family: FamilyModule = {
  family: 'encoder-decoder',
  modelTypes: ['t5'],
  optimized: ['t5'],
  weightPrefixes: () => [''],
  build: buildT5,
};
