/**
 * Checks of generative models (the comprehensive test type adds them when the handle generates):
 * - cache_consistency: the logits of decoding token by token with the KV cache (present.* fed back
 *   as past_key_values.*) equal the logits of one full pass over the same tokens;
 * - generation_padding: a left-padded row generates the tokens of the same prompt alone;
 * - generation_determinism: greedy decoding twice gives the same tokens, and seeded sampling twice
 *   with one seed gives the same tokens.
 * Each returns its metrics or throws CheckFailed with them.
 */
import type { Tensor } from 'onnxruntime-node';
import { makeTensor } from '../models/inputs';
import type { Feeds, ModelHandle, Outputs, TensorSpec } from '../types';
import { CheckFailed } from './types';

const PAST = 'past_key_values.';

export function takesKvCache(inputs: readonly TensorSpec[]): boolean {
  return inputs.some((s) => s.name.startsWith(PAST));
}

function ids2d(spec: TensorSpec | undefined, rows: number[][]): Tensor {
  const width = rows[0]?.length ?? 0;
  const dtype = spec?.dtype === 'int32' ? 'int32' : 'int64';
  return makeTensor(dtype, [rows.length, width], (i) => rows[Math.floor(i / width)]![i % width]!);
}

function emptyPast(inputs: readonly TensorSpec[]): Feeds {
  const feeds: Feeds = {};
  for (const s of inputs) {
    if (!s.name.startsWith(PAST)) continue;
    const dims = s.shape.map((d, i) => (i === 0 ? 1 : typeof d === 'number' && d >= 0 ? d : 0));
    feeds[s.name] = makeTensor(s.dtype, dims, () => 0);
  }
  return feeds;
}

/**
 * Feeds of one step: `tokens` at positions from..from+n-1 with the past so far. A causal LM takes
 * them as input_ids (mask over everything so far); an encoder-decoder as decoder_input_ids, with the
 * encoder's `source` at the first step and 0 encoder tokens after it (its keys/values are cached).
 */
function stepFeeds(
  inputs: readonly TensorSpec[],
  tokens: number[],
  from: number,
  past: Feeds | undefined,
  source: number[],
): Feeds {
  const spec = (name: string) => inputs.find((s) => s.name === name);
  let feeds: Feeds;
  if (spec('decoder_input_ids')) {
    const encoder = past ? [] : source;
    feeds = {
      input_ids: ids2d(spec('input_ids'), [encoder]),
      attention_mask: ids2d(spec('attention_mask'), [encoder.map(() => 1)]),
      decoder_input_ids: ids2d(spec('decoder_input_ids'), [tokens]),
    };
    if (spec('encoder_attention_mask')) {
      feeds.encoder_attention_mask = ids2d(spec('encoder_attention_mask'), [source.map(() => 1)]);
    }
  } else {
    feeds = {
      input_ids: ids2d(spec('input_ids'), [tokens]),
      attention_mask: ids2d(spec('attention_mask'), [new Array<number>(from + tokens.length).fill(1)]),
    };
    if (spec('position_ids'))
      feeds.position_ids = ids2d(spec('position_ids'), [tokens.map((_, i) => from + i)]);
  }
  return { ...feeds, ...(past ?? emptyPast(inputs)) };
}

function pastOf(out: Outputs): Feeds {
  const feeds: Feeds = {};
  for (const [name, t] of Object.entries(out)) {
    if (name.startsWith('present.')) feeds[PAST + name.slice('present.'.length)] = t;
  }
  return feeds;
}

/** Logits row at `position` of a [1, seq, vocab] output, as numbers. */
function logitsRow(t: Tensor, position: number): Float32Array {
  const [, , vocab] = t.dims as number[];
  const data = t.data as Float32Array;
  return data.subarray(position * vocab!, (position + 1) * vocab!);
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/**
 * Decodes `tokens` after a prefill of `prefill` tokens, one token per step, and compares every
 * step's logits with the full pass over all tokens (an empty past).
 */
export async function cacheConsistency(
  run: (feeds: Feeds) => Promise<Outputs>,
  inputs: readonly TensorSpec[],
  tokens: number[],
  prefill: number,
  tolerance: number,
): Promise<Record<string, unknown>> {
  // An encoder-decoder encodes the same tokens and decodes them.
  const full = await run(stepFeeds(inputs, tokens, 0, undefined, tokens));
  let out = await run(stepFeeds(inputs, tokens.slice(0, prefill), 0, undefined, tokens));
  let worst = maxAbs(logitsRow(out.logits!, prefill - 1), logitsRow(full.logits!, prefill - 1));
  for (let p = prefill; p < tokens.length; p++) {
    out = await run(stepFeeds(inputs, [tokens[p]!], p, pastOf(out), tokens));
    worst = Math.max(worst, maxAbs(logitsRow(out.logits!, 0), logitsRow(full.logits!, p)));
  }
  const metrics = {
    tokens: tokens.length,
    prefill_tokens: prefill,
    cached_steps: tokens.length - prefill,
    max_abs_error: worst,
    tolerance,
  };
  if (!(worst <= tolerance)) {
    throw new CheckFailed(`cached decoding differs from the full pass by ${worst} (> ${tolerance})`, metrics);
  }
  return metrics;
}

/** A prompt left-padded in a batch with a longer one generates what it generates alone (greedy). */
export async function generationPadding(
  h: ModelHandle,
  short: number[],
  long: number[],
  maxNewTokens: number,
): Promise<Record<string, unknown>> {
  const opts = { maxNewTokens, eosTokenId: [] as number[], decode: false };
  const batched = await h.generate!([long, short], opts);
  const alone = await h.generate!([short], opts);
  const metrics = {
    prompt_lengths: [long.length, short.length],
    padding: long.length - short.length,
    batched: batched.tokens[1],
    alone: alone.tokens[0],
  };
  if (JSON.stringify(batched.tokens[1]) !== JSON.stringify(alone.tokens[0])) {
    throw new CheckFailed('the left-padded row generated other tokens than the same prompt alone', metrics);
  }
  return metrics;
}

/** Greedy twice: the same tokens; sampling twice with one seed: the same tokens. */
export async function generationDeterminism(
  h: ModelHandle,
  prompt: number[],
  maxNewTokens: number,
  seed: number,
): Promise<Record<string, unknown>> {
  const greedy = { maxNewTokens, eosTokenId: [] as number[], decode: false };
  const sampled = { ...greedy, doSample: true, temperature: 1, topK: 50, topP: 0.95, seed };
  const [g1, g2, s1, s2] = [
    await h.generate!([prompt], greedy),
    await h.generate!([prompt], greedy),
    await h.generate!([prompt], sampled),
    await h.generate!([prompt], sampled),
  ];
  const same = (a: number[][], b: number[][]) => JSON.stringify(a) === JSON.stringify(b);
  const metrics = { greedy: g1.tokens[0], sampled: s1.tokens[0], seed, new_tokens: maxNewTokens };
  if (!same(g1.tokens, g2.tokens))
    throw new CheckFailed('two greedy runs generated different tokens', metrics);
  if (!same(s1.tokens, s2.tokens)) {
    throw new CheckFailed(`two sampled runs with seed ${seed} generated different tokens`, metrics);
  }
  return metrics;
}
