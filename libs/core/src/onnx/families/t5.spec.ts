import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SeededRandom } from '../../util/random';
import { writeSafetensors } from '../../util/safetensors';
import { buildWithModule, int64Tensor, maxAbsDiffWhere, runModel } from './decoder-spec-utils';
import { opCounts } from './spec-helpers';
import { bucketTable, relativePositionBucket, t5Family } from './t5';

jest.setTimeout(180_000);

const BASE = {
  model_type: 't5',
  vocab_size: 50,
  d_model: 16,
  d_kv: 6,
  d_ff: 24,
  num_layers: 2,
  num_decoder_layers: 3,
  num_heads: 3,
  relative_attention_num_buckets: 8,
  relative_attention_max_distance: 10,
  layer_norm_epsilon: 1e-6,
  initializer_range: 0.5,
};

describe('T5 relative position buckets', () => {
  // Values derived by hand from _relative_position_bucket for the T5 defaults (32 buckets, distance 128).
  it.each([
    [0, true, 0],
    [-1, true, 1],
    [1, true, 17],
    [-7, true, 7],
    [-8, true, 8],
    [-16, true, 10],
    [16, true, 26],
    [-32, true, 12],
    [-127, true, 15],
    [-128, true, 15],
    [-5000, true, 15],
    [5000, true, 31],
    [3, false, 0],
    [0, false, 0],
    [-15, false, 15],
    [-16, false, 16],
    [-32, false, 21],
    [-1000, false, 31],
  ])('rp %d bidirectional=%s → %d', (rp, bidirectional, expected) => {
    expect(relativePositionBucket(rp, bidirectional, 32, 128)).toBe(expected);
  });

  it('is constant beyond the clamp bound', () => {
    for (const bidirectional of [true, false]) {
      const { table, bound } = bucketTable(bidirectional, 32, 128);
      expect(Number(table[0])).toBe(relativePositionBucket(-100_000, bidirectional, 32, 128));
      expect(Number(table[2 * bound])).toBe(relativePositionBucket(100_000, bidirectional, 32, 128));
    }
  });
});

// ---- an independent, naive float64 T5Model forward used as the reference ----

type W = Record<string, { shape: number[]; data: Float32Array }>;

function linear(x: number[][], w: W[string]): number[][] {
  const [out, inF] = w.shape as [number, number];
  return x.map((row) => {
    const y = new Array<number>(out).fill(0);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) y[o]! += row[i]! * w.data[o * inF + i]!;
    return y;
  });
}

function rms(x: number[][], w: W[string], eps: number): number[][] {
  return x.map((row) => {
    const v = row.reduce((a, b) => a + b * b, 0) / row.length;
    return row.map((r, i) => (r / Math.sqrt(v + eps)) * w.data[i]!);
  });
}

function bucketRef(rp: number, bidirectional: boolean, nb: number, maxD: number): number {
  let n = nb;
  let b = 0;
  if (bidirectional) {
    n = nb / 2;
    if (rp > 0) b = n;
    rp = Math.abs(rp);
  } else rp = Math.max(-rp, 0);
  const exact = n / 2;
  if (rp < exact) return b + rp;
  return (
    b + Math.min(n - 1, exact + Math.floor((Math.log(rp / exact) / Math.log(maxD / exact)) * (n - exact)))
  );
}

function t5Reference(w: W, ids: number[], mask: number[], dec: number[], gated: boolean): number[][] {
  const c = BASE;
  const H = c.num_heads;
  const dk = c.d_kv;
  const embed = (toks: number[]) =>
    toks.map((t) => Array.from(w['shared.weight']!.data.slice(t * c.d_model, (t + 1) * c.d_model)));
  const bias = (name: string, q: number, k: number, bidirectional: boolean) => {
    const table = w[name]!.data;
    return Array.from({ length: H }, (_, h) =>
      Array.from({ length: q }, (_, i) =>
        Array.from(
          { length: k },
          (_, j) =>
            table[
              bucketRef(
                j - i,
                bidirectional,
                c.relative_attention_num_buckets,
                c.relative_attention_max_distance,
              ) *
                H +
                h
            ]!,
        ),
      ),
    );
  };
  const attention = (
    p: string,
    x: number[][],
    kv: number[][],
    posBias: number[][][] | undefined,
    allowed: (i: number, j: number) => boolean,
  ) => {
    const q = linear(x, w[`${p}.q.weight`]!);
    const k = linear(kv, w[`${p}.k.weight`]!);
    const v = linear(kv, w[`${p}.v.weight`]!);
    const ctx = x.map(() => new Array<number>(H * dk).fill(0));
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < x.length; i++) {
        const scores = kv.map((_, j) => {
          let s = 0;
          for (let d = 0; d < dk; d++) s += q[i]![h * dk + d]! * k[j]![h * dk + d]!;
          return s + (posBias ? posBias[h]![i]![j]! : 0);
        });
        const keep = kv.map((_, j) => allowed(i, j));
        const m = Math.max(...scores.filter((_, j) => keep[j]));
        const e = scores.map((s, j) => (keep[j] ? Math.exp(s - m) : 0));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < kv.length; j++)
          for (let d = 0; d < dk; d++) ctx[i]![h * dk + d]! += (e[j]! / z) * v[j]![h * dk + d]!;
      }
    }
    return linear(ctx, w[`${p}.o.weight`]!);
  };
  const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  const ff = (p: string, x: number[][]) => {
    const h = gated
      ? linear(x, w[`${p}.wi_0.weight`]!).map((row, i) =>
          row.map((a, j) => gelu(a) * linear([x[i]!], w[`${p}.wi_1.weight`]!)[0]![j]!),
        )
      : linear(x, w[`${p}.wi.weight`]!).map((row) => row.map((a) => Math.max(a, 0)));
    return linear(h, w[`${p}.wo.weight`]!);
  };
  const add = (a: number[][], b: number[][]) => a.map((r, i) => r.map((v, j) => v + b[i]![j]!));
  const eps = c.layer_norm_epsilon;

  let x = embed(ids);
  const encBias = bias(
    'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight',
    ids.length,
    ids.length,
    true,
  );
  for (let l = 0; l < c.num_layers; l++) {
    const p = `encoder.block.${l}.layer`;
    x = add(
      x,
      attention(
        `${p}.0.SelfAttention`,
        rms(x, w[`${p}.0.layer_norm.weight`]!, eps),
        rms(x, w[`${p}.0.layer_norm.weight`]!, eps),
        encBias,
        (_, j) => mask[j] === 1,
      ),
    );
    x = add(x, ff(`${p}.1.DenseReluDense`, rms(x, w[`${p}.1.layer_norm.weight`]!, eps)));
  }
  const enc = rms(x, w['encoder.final_layer_norm.weight']!, eps);
  let y = embed(dec);
  const decBias = bias(
    'decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight',
    dec.length,
    dec.length,
    false,
  );
  for (let l = 0; l < c.num_decoder_layers; l++) {
    const p = `decoder.block.${l}.layer`;
    const h = rms(y, w[`${p}.0.layer_norm.weight`]!, eps);
    y = add(
      y,
      attention(`${p}.0.SelfAttention`, h, h, decBias, (i, j) => j <= i),
    );
    y = add(
      y,
      attention(
        `${p}.1.EncDecAttention`,
        rms(y, w[`${p}.1.layer_norm.weight`]!, eps),
        enc,
        undefined,
        (_, j) => mask[j] === 1,
      ),
    );
    y = add(y, ff(`${p}.2.DenseReluDense`, rms(y, w[`${p}.2.layer_norm.weight`]!, eps)));
  }
  return rms(y, w['decoder.final_layer_norm.weight']!, eps);
}

function randomCheckpoint(gated: boolean, seed: number): W {
  const c = BASE;
  const rng = new SeededRandom(seed);
  const w: W = {};
  const t = (name: string, shape: number[], mean = 0, std = 0.25) => {
    w[name] = { shape, data: rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), mean, std) };
  };
  const inner = c.num_heads * c.d_kv;
  t('shared.weight', [c.vocab_size, c.d_model], 0, 1);
  const attn = (p: string) => {
    t(`${p}.q.weight`, [inner, c.d_model]);
    t(`${p}.k.weight`, [inner, c.d_model]);
    t(`${p}.v.weight`, [inner, c.d_model]);
    t(`${p}.o.weight`, [c.d_model, inner]);
  };
  const ffn = (p: string) => {
    if (gated) {
      t(`${p}.wi_0.weight`, [c.d_ff, c.d_model]);
      t(`${p}.wi_1.weight`, [c.d_ff, c.d_model]);
    } else t(`${p}.wi.weight`, [c.d_ff, c.d_model]);
    t(`${p}.wo.weight`, [c.d_model, c.d_ff]);
  };
  for (const stack of ['encoder', 'decoder']) {
    t(
      `${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`,
      [c.relative_attention_num_buckets, c.num_heads],
      0,
      1,
    );
    const n = stack === 'encoder' ? c.num_layers : c.num_decoder_layers;
    for (let l = 0; l < n; l++) {
      const p = `${stack}.block.${l}.layer`;
      attn(`${p}.0.SelfAttention`);
      t(`${p}.0.layer_norm.weight`, [c.d_model], 1, 0.2);
      if (stack === 'decoder') {
        attn(`${p}.1.EncDecAttention`);
        t(`${p}.1.layer_norm.weight`, [c.d_model], 1, 0.2);
      }
      const f = stack === 'encoder' ? 1 : 2;
      ffn(`${p}.${f}.DenseReluDense`);
      t(`${p}.${f}.layer_norm.weight`, [c.d_model], 1, 0.2);
    }
    t(`${stack}.final_layer_norm.weight`, [c.d_model], 1, 0.2);
  }
  return w;
}

// Encoder length 14 > max_distance 10, so clamped and logarithmic buckets are both exercised.
const IDS = [
  [3, 9, 14, 2, 40, 41, 7, 22, 8, 1, 30, 31, 5, 6],
  [11, 4, 19, 33, 2, 8, 45, 12, 9, 10, 0, 0, 0, 0],
];
const MASK = [IDS[0]!.map(() => 1), [...Array<number>(10).fill(1), 0, 0, 0, 0]];
const DEC = [
  [0, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45],
  [0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11],
];

describe.each([
  ['relu', false],
  ['gated-gelu', true],
])('t5 family (feed_forward_proj %s) against a naive reference', (proj, gated) => {
  const dir = mkdtempSync(join(tmpdir(), 't5-ref-'));
  const w = randomCheckpoint(gated, gated ? 7 : 3);
  let onnxPath: string;

  beforeAll(async () => {
    const st = join(dir, 'model.safetensors');
    writeSafetensors(
      st,
      Object.fromEntries(Object.entries(w).map(([n, t]) => [n, { dtype: 'F32' as const, ...t }])),
    );
    onnxPath = await buildWithModule(
      t5Family,
      { ...BASE, feed_forward_proj: proj },
      { weights: 'safetensors', safetensorsPaths: [st], task: 'feature-extraction' },
      join(dir, 'out'),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['cpu', 1e-4],
    ['webgpu', 1e-3],
  ])('last_hidden_state matches on %s', async (ep, tolerance) => {
    const out = await runModel(
      onnxPath,
      { input_ids: int64Tensor(IDS), attention_mask: int64Tensor(MASK), decoder_input_ids: int64Tensor(DEC) },
      [ep],
    );
    const got = out.last_hidden_state!;
    expect(got.dims).toEqual([2, 12, BASE.d_model]);
    const ref = [0, 1].flatMap((b) => t5Reference(w, IDS[b]!, MASK[b]!, DEC[b]!, gated).flat());
    const err = maxAbsDiffWhere(got.data, ref);
    console.log(`t5 ${proj} ${ep} max abs error vs reference ${err.toExponential(3)}`);
    expect(err).toBeLessThan(tolerance);
  });
});

// T5ForConditionalGeneration's head on the reference decoder states: tied → (h * d_model^-0.5) @ shared^T,
// untied → h @ lm_head.weight^T (no rescaling).
describe.each([
  ['tied', true],
  ['untied', false],
])('t5 text2text-generation head (%s lm_head) against the float64 reference', (_name, tied) => {
  const dir = mkdtempSync(join(tmpdir(), 't5-lm-'));
  const w = randomCheckpoint(true, tied ? 21 : 22);
  if (!tied) {
    const rng = new SeededRandom(23);
    w['lm_head.weight'] = {
      shape: [BASE.vocab_size, BASE.d_model],
      data: rng.fillNormal(new Float32Array(BASE.vocab_size * BASE.d_model), 0, 0.5),
    };
  }
  const config = { ...BASE, feed_forward_proj: 'gated-gelu', tie_word_embeddings: tied };
  let onnxPath: string;

  beforeAll(async () => {
    const st = join(dir, 'model.safetensors');
    writeSafetensors(
      st,
      Object.fromEntries(Object.entries(w).map(([n, t]) => [n, { dtype: 'F32' as const, ...t }])),
    );
    onnxPath = await buildWithModule(
      t5Family,
      config,
      { weights: 'safetensors', safetensorsPaths: [st], task: 'text2text-generation' },
      join(dir, 'out'),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['cpu', 1e-4],
    ['webgpu', 1e-3],
  ])('logits match on %s', async (ep, tolerance) => {
    const out = await runModel(
      onnxPath,
      { input_ids: int64Tensor(IDS), attention_mask: int64Tensor(MASK), decoder_input_ids: int64Tensor(DEC) },
      [ep],
    );
    const got = out.logits!;
    expect(got.dims).toEqual([2, 12, BASE.vocab_size]);
    const table = tied ? w['shared.weight']! : w['lm_head.weight']!;
    const scale = tied ? BASE.d_model ** -0.5 : 1;
    const ref = [0, 1].flatMap((b) =>
      linear(
        t5Reference(w, IDS[b]!, MASK[b]!, DEC[b]!, true).map((row) => row.map((v) => v * scale)),
        table,
      ).flat(),
    );
    const err = maxAbsDiffWhere(got.data, ref);
    console.log(`t5 lm_head ${_name} ${ep} max abs error vs reference ${err.toExponential(3)}`);
    expect(err).toBeLessThan(tolerance);
  });
});

describe('t5 family properties (random weights)', () => {
  const config = { ...BASE, feed_forward_proj: 'gated-gelu', initializer_range: 0.3 };
  let onnxPath: string;
  const run = (ids: number[][], mask: number[][], dec: number[][]) =>
    runModel(onnxPath, {
      input_ids: int64Tensor(ids),
      attention_mask: int64Tensor(mask),
      decoder_input_ids: int64Tensor(dec),
    });

  beforeAll(async () => {
    onnxPath = await buildWithModule(t5Family, config, {
      weights: 'random',
      seed: 11,
      task: 'feature-extraction',
    });
  });
  afterAll(() => rmSync(dirname(onnxPath), { recursive: true, force: true }));

  it('gives finite [batch, decoder_seq, d_model] outputs, deterministically per seed', async () => {
    const a = (await run(IDS, MASK, DEC)).last_hidden_state!;
    expect(a.dims).toEqual([2, 12, BASE.d_model]);
    expect(a.data.every((v) => Number.isFinite(v))).toBe(true);
    const again = await buildWithModule(t5Family, config, {
      weights: 'random',
      seed: 11,
      task: 'feature-extraction',
    });
    const other = await buildWithModule(t5Family, config, {
      weights: 'random',
      seed: 12,
      task: 'feature-extraction',
    });
    try {
      const feeds = {
        input_ids: int64Tensor(IDS),
        attention_mask: int64Tensor(MASK),
        decoder_input_ids: int64Tensor(DEC),
      };
      expect(maxAbsDiffWhere(a.data, (await runModel(again, feeds)).last_hidden_state!.data)).toBe(0);
      expect(maxAbsDiffWhere(a.data, (await runModel(other, feeds)).last_hidden_state!.data)).toBeGreaterThan(
        1e-3,
      );
    } finally {
      rmSync(dirname(again), { recursive: true, force: true });
      rmSync(dirname(other), { recursive: true, force: true });
    }
  });

  it('ignores padded encoder tokens but not unpadded ones', async () => {
    const base = (await run(IDS, MASK, DEC)).last_hidden_state!.data;
    const padChanged = IDS.map((r, b) => r.map((t, i) => (MASK[b]![i] ? t : 49 - i)));
    const tokChanged = IDS.map((r) => [r[0]!, 48, ...r.slice(2)]);
    const rowOf = (i: number) => Math.floor(i / (12 * BASE.d_model));
    expect(maxAbsDiffWhere(base, (await run(padChanged, MASK, DEC)).last_hidden_state!.data)).toBeLessThan(
      1e-6,
    );
    const tok = (await run(tokChanged, MASK, DEC)).last_hidden_state!.data;
    expect(maxAbsDiffWhere(base, tok, (i) => rowOf(i) === 1)).toBeGreaterThan(1e-4);
  });

  it('is causal in the decoder: a later decoder token does not change earlier positions', async () => {
    const base = (await run(IDS, MASK, DEC)).last_hidden_state!.data;
    const changed = DEC.map((r) => [...r.slice(0, 6), 49, 48, 47, 46, 45, 44]);
    const out = (await run(IDS, MASK, changed)).last_hidden_state!.data;
    const early = (i: number) => Math.floor(i / BASE.d_model) % 12 < 6;
    expect(maxAbsDiffWhere(base, out, early)).toBeLessThan(1e-6);
    expect(maxAbsDiffWhere(base, out, (i) => !early(i))).toBeGreaterThan(1e-4);
  });
});

// The reference is always the portable full pass: the optimized graph (every residual add fused with
// the RMSNorm after it) is held to it too.
describe.each(['portable', 'optimized'] as const)(
  't5 KV-cache graph, %s (encoder once, decoder self-attention past, cross-attention keys/values cached)',
  (graph) => {
    const config = { ...BASE, feed_forward_proj: 'gated-gelu', initializer_range: 0.3 };
    const dirs: string[] = [];
    let full: string;
    let cached: string;

    beforeAll(async () => {
      const build = async (kvCache: boolean, flavour: 'portable' | 'optimized') => {
        const path = await buildWithModule(t5Family, config, {
          weights: 'random',
          seed: 5,
          task: 'text2text-generation',
          kvCache,
          graph: flavour,
        });
        dirs.push(dirname(path));
        return path;
      };
      full = await build(false, 'portable');
      cached = await build(true, graph);
    });
    afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

    it('decoding token by token with the cache gives the logits of the full pass (encoder run at the first step only)', async () => {
      const ort = await import('onnxruntime-node');
      const session = await ort.InferenceSession.create(cached, { executionProviders: ['cpu'] });
      try {
        expect(session.inputNames.slice(0, 4)).toEqual([
          'input_ids',
          'attention_mask',
          'encoder_attention_mask',
          'decoder_input_ids',
        ]);
        expect(session.outputNames.slice(0, 5)).toEqual([
          'logits',
          'present.0.decoder.key',
          'present.0.decoder.value',
          'present.0.encoder.key',
          'present.0.encoder.value',
        ]);
        const reference = (
          await runModel(full, {
            input_ids: int64Tensor(IDS),
            attention_mask: int64Tensor(MASK),
            decoder_input_ids: int64Tensor(DEC),
          })
        ).logits!;
        const vocab = BASE.vocab_size;
        const steps = DEC[0]!.length;
        const empty = (n: number) =>
          new ort.Tensor('float32', new Float32Array(0), [2, BASE.num_heads, n, BASE.d_kv]);
        const noTokens = new ort.Tensor('int64', new BigInt64Array(0), [2, 0]);
        let past: Record<string, import('onnxruntime-node').Tensor> = {};
        for (const name of session.inputNames) if (name.startsWith('past_key_values.')) past[name] = empty(0);
        let worst = 0;
        for (let p = 0; p < steps; p++) {
          const out = await session.run({
            input_ids: p === 0 ? int64Tensor(IDS) : noTokens,
            attention_mask: p === 0 ? int64Tensor(MASK) : noTokens,
            encoder_attention_mask: int64Tensor(MASK),
            decoder_input_ids: int64Tensor(DEC.map((r) => [r[p]!])),
            ...past,
          });
          expect(out['present.0.decoder.key']!.dims).toEqual([2, BASE.num_heads, p + 1, BASE.d_kv]);
          expect(out['present.2.encoder.key']!.dims).toEqual([2, BASE.num_heads, IDS[0]!.length, BASE.d_kv]);
          const logits = out.logits!.data as Float32Array;
          for (let b = 0; b < 2; b++) {
            const ref = (reference.data as Float32Array).subarray(
              (b * steps + p) * vocab,
              (b * steps + p + 1) * vocab,
            );
            worst = Math.max(worst, maxAbsDiffWhere(logits.subarray(b * vocab, (b + 1) * vocab), ref));
          }
          past = {};
          for (const [name, t] of Object.entries(out)) {
            if (name.startsWith('present.')) past[`past_key_values.${name.slice('present.'.length)}`] = t;
          }
        }
        console.log(
          `t5 ${graph} cached decoding vs portable full pass max abs error ${worst.toExponential(3)}`,
        );
        expect(worst).toBeLessThan(1e-4);
      } finally {
        await session.release();
      }
    });
  },
);

describe('t5 optimized graph (each residual add fused with the RMSNorm after it)', () => {
  const config = { ...BASE, feed_forward_proj: 'gated-gelu', initializer_range: 0.3 };
  const dirs: string[] = [];
  let full: string;
  let optimized: string;

  /** The full-pass graph of these weights in a flavour and precision. */
  const build = async (graph: 'portable' | 'optimized', precision: 'fp32' | 'fp16' = 'fp32') => {
    const path = await buildWithModule(t5Family, config, {
      weights: 'random',
      seed: 5,
      task: 'text2text-generation',
      kvCache: false,
      graph,
      precision,
    });
    dirs.push(dirname(path));
    return path;
  };

  beforeAll(async () => {
    full = await build('portable');
    optimized = await build('optimized');
  });
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.each([
    ['cpu', 1e-4],
    ['webgpu', 1e-3],
  ])('its full pass gives the portable logits on %s (within %s)', async (ep, tolerance) => {
    // One fused add + norm per sublayer (the last one the stack's final norm); the first norm of
    // each stack is plain.
    const ops = opCounts(optimized);
    expect(ops.SkipSimplifiedLayerNormalization).toBe(2 * BASE.num_layers + 3 * BASE.num_decoder_layers);
    expect(ops.SimplifiedLayerNormalization).toBe(2);
    expect(ops.ReduceMean ?? 0).toBe(0);
    const feeds = {
      input_ids: int64Tensor(IDS),
      attention_mask: int64Tensor(MASK),
      decoder_input_ids: int64Tensor(DEC),
    };
    const [a, b] = [await runModel(optimized, feeds, [ep]), await runModel(full, feeds, [ep])];
    const err = maxAbsDiffWhere(a.logits!.data as Float32Array, b.logits!.data as Float32Array);
    console.log(`t5 optimized full pass on ${ep} vs portable max abs error ${err.toExponential(3)}`);
    expect(err).toBeLessThan(tolerance);
  });

  it.each(['cpu', 'webgpu'])(
    'in fp16 it is as close to the fp32 logits as the portable fp16 graph on %s',
    async (ep) => {
      const [opt16, port16] = [await build('optimized', 'fp16'), await build('portable', 'fp16')];
      const feeds = {
        input_ids: int64Tensor(IDS),
        attention_mask: int64Tensor(MASK),
        decoder_input_ids: int64Tensor(DEC),
      };
      const [a, b, ref] = [
        await runModel(opt16, feeds, [ep]),
        await runModel(port16, feeds, [ep]),
        await runModel(full, feeds, [ep]),
      ];
      // Both fp16 graphs round differently: each is measured against the fp32 graph, and the fused
      // one must be about as close as the portable one (what fp16 costs anyway).
      const fp32 = ref.logits!.data as Float32Array;
      const optErr = maxAbsDiffWhere(a.logits!.data as Float32Array, fp32);
      const portErr = maxAbsDiffWhere(b.logits!.data as Float32Array, fp32);
      const scale = maxAbsDiffWhere(fp32, new Float32Array(fp32.length));
      console.log(
        `t5 fp16 on ${ep} vs fp32: optimized ${optErr.toExponential(3)}, portable ${portErr.toExponential(3)} ` +
          `(logits up to ${scale.toFixed(2)})`,
      );
      expect(optErr).toBeLessThan(2 * portErr + 1e-3);
      expect(optErr).toBeLessThan(5e-2 * Math.max(1, scale));
    },
  );
});
