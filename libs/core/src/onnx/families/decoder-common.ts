/**
 * Building blocks of the decoder (GPT-2, Llama, Qwen2) and encoder-decoder (T5) families:
 * sequence positions, causal + padding masks with transformers' semantics, scaled dot-product
 * attention, RMS norms computed in fp32, rotary embeddings and the language-model head.
 *
 * Mask semantics (transformers 5.x, sdpa attention, torch >= 2.5): a query attends to key k when
 * k <= q (causal), attention_mask[k] != 0 (padding) and, for sliding-window layers, q - k < window.
 * A query row with no allowed key (left padding) gets an attention output of exactly 0, as torch's
 * scaled_dot_product_attention returns for fully masked rows; we emit an additive mask (0 / most
 * negative finite value) and multiply the attention context by a 0/1 "row has a key" factor.
 */
import { CoreError, ErrorCode } from '../../errors';
import { ELEM_TYPE, type GraphBuilder, type ProjectionWeight } from '../graph';
import type { WeightSource } from '../weights';

export const BATCH = 'batch_size';
export const SEQ = 'sequence_length';

/** Shape(x)[axis] as an int64 scalar. */
export function dimScalar(g: GraphBuilder, x: string, axis: number): string {
  return g.squeeze(g.dim(x, axis), [0]);
}

/** arange(seq) as int64 [seq], seq being axis 1 of `ids` [batch, seq]. */
export function sequencePositions(g: GraphBuilder, ids: string): string {
  return g.op('Range', [g.constInt64([0], []), dimScalar(g, ids, 1), g.constInt64([1], [])]);
}

export interface DecoderMask {
  /** Additive mask [batch, 1, q, k] in the compute dtype: 0 where allowed, most negative value elsewhere. */
  additive: string;
  /** [batch, 1, q, 1] in the compute dtype: 1 when the query row has at least one allowed key, else 0. */
  rowValid: string;
}

/**
 * The causal (+ sliding window) + padding mask of a decoder's self-attention.
 * @param queryPositions int64 [q] cache positions of the queries
 * @param attentionMask int64 [batch, k] (nonzero = token)
 * @param keyPositions int64 [k] cache positions of the keys (default: the queries', no past)
 */
export function causalPaddingMask(
  g: GraphBuilder,
  queryPositions: string,
  attentionMask: string,
  slidingWindow?: number,
  keyPositions: string = queryPositions,
): DecoderMask {
  const q = g.unsqueeze(queryPositions, [1]); // [Q, 1]
  const k = g.unsqueeze(keyPositions, [0]); // [1, K]
  let allowed = g.op('LessOrEqual', [k, q]); // [Q, K]
  if (slidingWindow !== undefined) {
    // transformers' sliding_window_overlay: kv_idx > q_idx - sliding_window.
    const inWindow = g.op('Less', [g.sub(q, k), g.constInt64([slidingWindow], [])]);
    allowed = g.op('And', [allowed, inWindow]);
  }
  const pad = g.unsqueeze(g.op('Cast', [attentionMask], { to: ELEM_TYPE.bool }), [1, 2]); // [B, 1, 1, K]
  allowed = g.op('And', [g.unsqueeze(allowed, [0, 1]), pad]); // [B, 1, Q, K]
  const additive = g.op('Where', [allowed, g.constFloat(0), g.constFloat(g.minValue)]);
  const rowValid = g.op('ReduceMax', [g.castCompute(allowed)], { axes: [-1], keepdims: 1 });
  return { additive, rowValid };
}

/** Symbolic axis names of the KV-cache graph (optimum's). */
export const PAST_SEQ = 'past_sequence_length';
export const TOTAL_SEQ = 'total_sequence_length';

/**
 * The inputs of a causal decoder and what follows from them. Without a cache (the full-sequence
 * graph): input_ids, attention_mask and position_ids [batch, seq]. With a cache (optimum's
 * "with past" layout): input_ids and position_ids [batch, seq] (the new tokens), attention_mask
 * [batch, past + seq] over the past and the new tokens, and per layer
 * `past_key_values.{i}.key/value` [batch, kv_heads, past, head_dim]; the graph returns
 * `present.{i}.key/value` [batch, kv_heads, past + seq, head_dim]. An empty past (length 0) is the
 * prefill.
 */
export interface DecoderInputs {
  ids: string;
  attentionMask: string;
  /** Positions for the embeddings / rotary tables: the position_ids input, int64 [batch, seq]. */
  positionIds: string;
  /** Cache positions of the queries (past .. past + seq - 1), int64 [seq]. */
  queryPositions: string;
  /** Cache positions of the keys (0 .. past + seq - 1), int64 [past + seq]. */
  keyPositions: string;
  /** With a cache: joins layer i's past with the new keys/values (its present, see declarePresents). */
  cache?: (layer: number, key: string, value: string) => { key: string; value: string };
  /** With a cache: declares the present.{i}.key/value outputs (after the logits, as optimum orders them). */
  declarePresents(): void;
}

export function decoderInputs(
  g: GraphBuilder,
  opts: { kvCache: boolean; layers: number; kvHeads: number; headDim: number },
): DecoderInputs {
  const ids = g.input('input_ids', 'int64', [BATCH, SEQ]);
  if (!opts.kvCache) {
    const attentionMask = g.input('attention_mask', 'int64', [BATCH, SEQ]);
    // position_ids as optimum exports them: a caller that pads on the left passes cumsum(mask) - 1
    // (what transformers' generate() does); arange(seq) is what the forward uses when none are passed.
    const positionIds = g.input('position_ids', 'int64', [BATCH, SEQ]);
    const positions = sequencePositions(g, ids);
    return {
      ids,
      attentionMask,
      positionIds,
      queryPositions: positions,
      keyPositions: positions,
      declarePresents: () => undefined,
    };
  }
  const attentionMask = g.input('attention_mask', 'int64', [BATCH, TOTAL_SEQ]);
  const positionIds = g.input('position_ids', 'int64', [BATCH, SEQ]);
  const pastDims = [BATCH, opts.kvHeads, PAST_SEQ, opts.headDim];
  const pastInputs: { key: string; value: string }[] = [];
  for (let i = 0; i < opts.layers; i++) {
    pastInputs.push({
      key: g.input(`past_key_values.${i}.key`, g.computeDtype, pastDims),
      value: g.input(`past_key_values.${i}.value`, g.computeDtype, pastDims),
    });
  }
  const past = dimScalar(g, pastInputs[0]!.key, 2);
  const total = g.add(past, dimScalar(g, ids, 1));
  const one = g.constInt64([1], []);
  const presentDims = [BATCH, opts.kvHeads, TOTAL_SEQ, opts.headDim];
  const presents: { key: string; value: string }[] = [];
  return {
    ids,
    attentionMask,
    positionIds,
    queryPositions: g.op('Range', [past, total, one]),
    keyPositions: g.op('Range', [g.constInt64([0], []), total, one]),
    cache: (layer, key, value) => {
      const p = pastInputs[layer]!;
      presents[layer] = { key: g.concat([p.key, key], 2), value: g.concat([p.value, value], 2) };
      return presents[layer];
    },
    declarePresents: () => {
      presents.forEach((p, layer) => {
        g.output(`present.${layer}.key`, g.computeDtype, presentDims, p.key);
        g.output(`present.${layer}.value`, g.computeDtype, presentDims, p.value);
      });
    },
  };
}

/** The self-attention mask of `inputs` (causal over the cache, padding, optional sliding window). */
export function decoderMask(g: GraphBuilder, inputs: DecoderInputs, slidingWindow?: number): DecoderMask {
  return causalPaddingMask(
    g,
    inputs.queryPositions,
    inputs.attentionMask,
    slidingWindow,
    inputs.keyPositions,
  );
}

/** Splits [batch, seq, heads * headDim] into [batch, heads, seq, headDim]. */
export function splitHeads(g: GraphBuilder, x: string, heads: number, headDim: number): string {
  return g.transpose(g.reshape(x, [0, 0, heads, headDim]), [0, 2, 1, 3]);
}

/** Merges [batch, heads, seq, headDim] into [batch, seq, heads * headDim]. */
export function mergeHeads(g: GraphBuilder, x: string, heads: number, headDim: number): string {
  return g.reshape(g.transpose(x, [0, 2, 1, 3]), [0, 0, heads * headDim]);
}

/** Repeats the kv heads of [batch, kvHeads, seq, headDim] `groups` times (transformers' repeat_kv). */
export function repeatKv(
  g: GraphBuilder,
  x: string,
  kvHeads: number,
  groups: number,
  headDim: number,
): string {
  if (groups === 1) return x;
  const expanded = g.op('Expand', [g.unsqueeze(x, [2]), g.constInt64([1, 1, groups, 1, 1])]);
  return g.reshape(expanded, [0, kvHeads * groups, -1, headDim]);
}

export interface AttendOptions {
  /** Multiplies the scores (applied to q before the product). 1 = no scaling. */
  scale: number;
  /** Added to the scores: mask and/or position bias, broadcastable to [batch, heads, q, k]. */
  bias?: string;
  /** [batch, 1, q, 1] 0/1 factor applied to the attention output (sdpa's fully-masked rows → 0). */
  rowValid?: string;
  /** Softmax in float32 even in fp16 (T5 upcasts its scores). */
  softmaxFp32?: boolean;
}

/** softmax(q k^T * scale + bias) v for q [B, H, q, D], k and v [B, H, k, D]; returns [B, H, q, D]. */
export function attend(g: GraphBuilder, q: string, k: string, v: string, opts: AttendOptions): string {
  const qs = opts.scale === 1 ? q : g.mul(q, g.constFloat(opts.scale));
  let scores = g.matmul(qs, g.transpose(k, [0, 1, 3, 2]));
  if (opts.bias) scores = g.add(scores, opts.bias);
  let probs: string;
  if (opts.softmaxFp32 && g.computeDtype !== 'float32') {
    probs = g.castCompute(g.softmax(g.toFloat32(scores), -1));
  } else {
    probs = g.softmax(scores, -1);
  }
  const ctx = g.matmul(probs, v);
  return opts.rowValid ? g.mul(ctx, opts.rowValid) : ctx;
}

/**
 * RMS norm as Llama / Qwen2 / T5 compute it: in float32, x * 1/sqrt(mean(x^2) + eps), then times the
 * weight in the compute dtype (no mean subtraction, no bias). The Pow → ReduceMean → Add → Sqrt → Div
 * → Mul chain is the pattern onnxruntime fuses into SimplifiedLayerNormalization.
 */
export function rmsNorm(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  x: string,
  size: number,
  eps: number,
): string {
  const weight = g.weight(name, w.get(name, [size], { init: 'ones' }), [size]);
  const x32 = g.toFloat32(x);
  const variance = g.op('ReduceMean', [g.op('Pow', [x32, g.constFloat32(2)])], { axes: [-1], keepdims: 1 });
  const normed = g.div(x32, g.op('Sqrt', [g.add(variance, g.constFloat32(eps))]));
  return g.mul(g.castCompute(normed), weight);
}

/**
 * GPT-2's Conv1D applied to x (weight `[in, out]` stored as is), with its bias kept apart when
 * `fuseBias` (for SkipLayerNormalization or FastGelu to add it).
 */
export function conv1dParts(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  x: string,
  inFeatures: number,
  outFeatures: number,
  fuseBias = false,
): { y: string; bias?: string } {
  const data = w.get(`${name}.weight`, [inFeatures, outFeatures]);
  const weight = g.projectionWeight(`${name}.weight`, { data, layout: 'in-out' }, inFeatures, outFeatures);
  const bias = g.weight(`${name}.bias`, w.get(`${name}.bias`, [outFeatures], { init: 'zeros' }), [
    outFeatures,
  ]);
  return fuseBias ? { y: g.applyProjection(x, weight), bias } : { y: g.applyProjection(x, weight, bias) };
}

/**
 * A causal LM's token embedding [vocab, hidden] and, when an int8/int4 text-generation graph ties its
 * LM head to it, that head quantized from the same values (read once: a random source never returns
 * the same tensor twice).
 */
export function tokenEmbedding(
  g: GraphBuilder,
  w: WeightSource,
  name: string,
  vocab: number,
  hidden: number,
  tiedHead: boolean,
): { table: string; quantizedTiedHead?: ProjectionWeight } {
  const data = w.get(name, [vocab, hidden]);
  const table = g.weight(name, data, [vocab, hidden]);
  if (!tiedHead || !g.quantized) return { table };
  return {
    table,
    quantizedTiedHead: g.projectionWeight('lm_head.weight', { data, layout: 'out-in' }, hidden, vocab),
  };
}

/**
 * logits = x @ table^T for a [vocab, hidden] table (a tied embedding or an nn.Linear lm_head), as a
 * Gemm with transB on [batch * seq, hidden], so the table is neither transposed nor copied.
 * @param ids [batch, seq]: gives the output shape [batch, seq, vocab]
 */
export function logitsFromTable(
  g: GraphBuilder,
  x: string,
  table: string,
  ids: string,
  hidden: number,
  vocab: number,
): string {
  const flat = g.reshape(x, [-1, hidden]);
  const y = g.op('Gemm', [flat, table], { transB: 1 });
  return g.reshape(y, g.concat([g.op('Shape', [ids]), g.constInt64([vocab])], 0));
}

/** A config value that must be a positive integer when present. */
export function optionalInt(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `${what} must be a positive integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * The head of a causal LM's final hidden states x: `text-generation` → logits through the LM head
 * (the embedding table when tied, else `lm_head.weight` [vocab, hidden]); `feature-extraction` →
 * last_hidden_state.
 */
export function emitCausalLmHead(
  g: GraphBuilder,
  w: WeightSource,
  task: string,
  opts: {
    x: string;
    ids: string;
    embedTable: string;
    hidden: number;
    vocab: number;
    tied: boolean;
    /** int8/int4 with a tied head: the head quantized from the embedding's values when they were read. */
    quantizedTiedHead?: ProjectionWeight;
  },
): void {
  const { x, ids, hidden: H, vocab } = opts;
  if (task === 'feature-extraction') {
    g.output('last_hidden_state', 'float32', [BATCH, SEQ, H], x);
    return;
  }
  if (task !== 'text-generation') {
    throw new CoreError(ErrorCode.UNPROCESSABLE, `a causal language model has no ${task} head`);
  }
  if (g.quantized) {
    // int8/int4: the LM head is a quantized projection like every other (onnxruntime-genai's builder
    // quantizes it too); tied, it was quantized from the embedding table as that was read.
    const head =
      opts.quantizedTiedHead ??
      g.projectionWeight(
        'lm_head.weight',
        { data: w.get('lm_head.weight', [vocab, H]), layout: 'out-in' },
        H,
        vocab,
      );
    g.output('logits', 'float32', [BATCH, SEQ, vocab], g.applyProjection(x, head));
    return;
  }
  const head = opts.tied
    ? opts.embedTable
    : g.weight('lm_head.weight', w.get('lm_head.weight', [vocab, H]), [vocab, H]);
  g.output('logits', 'float32', [BATCH, SEQ, vocab], logitsFromTable(g, x, head, ids, H, vocab));
}
