/**
 * Oracles of the task heads and of sentence pooling, without torch: each head is recomputed in
 * float64 from the base model's outputs that transformers recorded for the hf-tiny fixtures
 * (last_hidden_state, pooler_output; GPT-2 / Llama: their logits) and from the head's own weights,
 * which are written, seeded, into a checkpoint laid out as transformers saves the *For* class (base
 * tensors under `bert.` / `distilbert.` / `vit.`, head tensors at the root). Checked on cpu and webgpu.
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HF_TINY } from '../../../../../test/fixtures';
import { CoreError, ErrorCode } from '../../errors';
import { SeededRandom } from '../../util/random';
import { writeSafetensors } from '../../util/safetensors';
import { buildOnnxModel } from '../index';
import type { PoolingSpec, Task } from '../tasks';
import {
  maxAbsDiff,
  readAllFloat32,
  readConfig,
  readFixtureIO,
  removeDir,
  runModel,
  tempDir,
  type FixtureIO,
} from './spec-helpers';

jest.setTimeout(180_000);

type Tensors = Record<string, { shape: number[]; data: Float32Array }>;

// ---- float64 reference math (weights in the checkpoint layout: nn.Linear is [out, in]) ----

function linear(x: number[], w: Float32Array, b: Float32Array | undefined, outF: number): number[] {
  const inF = x.length;
  const y = new Array<number>(outF).fill(0);
  for (let o = 0; o < outF; o++) {
    let acc = b ? b[o]! : 0;
    for (let i = 0; i < inF; i++) acc += x[i]! * w[o * inF + i]!;
    y[o] = acc;
  }
  return y;
}

function layerNorm(x: number[], gamma: Float32Array, beta: Float32Array, eps: number): number[] {
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  const v = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
  return x.map((xi, i) => ((xi - mean) / Math.sqrt(v + eps)) * gamma[i]! + beta[i]!);
}

/** erf with |error| < 1.2e-7 (Numerical Recipes erfc, Chebyshev fit). */
const ERFC = [
  -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
  -0.82215223, 0.17087277,
];
function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  let poly = 0;
  for (let i = ERFC.length - 1; i >= 0; i--) poly = ERFC[i]! + t * poly;
  const r = t * Math.exp(-z * z + poly);
  return x >= 0 ? 1 - r : r - 1;
}
const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));

/** Rows of a [batch, seq, hidden] (or [batch, hidden]) output: out[b][s] is a vector. */
function tokens(t: { data: Float32Array; dims: number[] }): number[][][] {
  const [B, S, H] = t.dims as [number, number, number];
  return Array.from({ length: B }, (_, b) =>
    Array.from({ length: S }, (_, s) => Array.from(t.data.slice((b * S + s) * H, (b * S + s + 1) * H))),
  );
}
function rows(t: { data: Float32Array; dims: number[] }): number[][] {
  const [B, H] = t.dims as [number, number];
  return Array.from({ length: B }, (_, b) => Array.from(t.data.slice(b * H, (b + 1) * H)));
}

// ---- checkpoints: the fixture's base tensors under the *For* class's prefix, seeded head tensors ----

function seeded(seed: number, spec: Record<string, number[]>, std = 0.3): Tensors {
  const rng = new SeededRandom(seed);
  return Object.fromEntries(
    Object.entries(spec).map(([name, shape]) => [
      name,
      { shape, data: rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0, std) },
    ]),
  );
}

function writeCheckpoint(path: string, fixture: string, prefix: string, head: Tensors): Tensors {
  const base = readAllFloat32(join(HF_TINY, fixture, 'model.safetensors'));
  const all: Tensors = {};
  for (const [n, t] of Object.entries(base)) all[prefix + n] = t;
  Object.assign(all, head);
  writeSafetensors(
    path,
    Object.fromEntries(Object.entries(all).map(([n, t]) => [n, { dtype: 'F32' as const, ...t }])),
  );
  return base;
}

async function buildAndRun(
  dir: string,
  fixture: string,
  checkpoint: string,
  task: Task,
  io: FixtureIO,
  ep: string,
  configOver: Record<string, unknown> = {},
  pooling?: PoolingSpec,
): Promise<Record<string, ort.Tensor>> {
  const out = join(dir, `${task}-${ep}`);
  const built = await buildOnnxModel({
    config: { ...readConfig(join(HF_TINY, fixture)), ...configOver },
    outDir: out,
    weights: 'safetensors',
    safetensorsPaths: [checkpoint],
    task,
    pooling,
  });
  expect(built.task).toBe(task);
  const feeds: Record<string, ort.Tensor> = {};
  for (const i of built.inputs) feeds[i.name] = io.inputs[i.name]!;
  return runModel(built.onnxPath, feeds, [ep]);
}

const EPS: [string, number][] = [
  ['cpu', 1e-4],
  ['webgpu', 1e-3],
];
const LABELS = 5;

describe('encoder heads on the bert fixture (BertFor*)', () => {
  const io = readFixtureIO(join(HF_TINY, 'bert'));
  const H = 32;
  const V = 99;
  const hidden = tokens(io.outputs.last_hidden_state!);
  const pooled = rows(io.outputs.pooler_output!);
  let dir: string;
  let ckpt: string;
  const head = seeded(1, {
    'cls.predictions.transform.dense.weight': [H, H],
    'cls.predictions.transform.dense.bias': [H],
    'cls.predictions.transform.LayerNorm.weight': [H],
    'cls.predictions.transform.LayerNorm.bias': [H],
    'cls.predictions.bias': [V],
    'classifier.weight': [LABELS, H],
    'classifier.bias': [LABELS],
  });
  let word: Float32Array;

  beforeAll(() => {
    dir = tempDir('heads-bert');
    ckpt = join(dir, 'model.safetensors');
    word = writeCheckpoint(ckpt, 'bert', 'bert.', head)['embeddings.word_embeddings.weight']!.data;
  });
  afterAll(() => removeDir(dir));
  const w = (n: string) => head[n]!.data;

  it.each(EPS)(
    'fill-mask logits (transform → gelu → LayerNorm → tied decoder + bias) on %s',
    async (ep, tol) => {
      const out = await buildAndRun(dir, 'bert', ckpt, 'fill-mask', io, ep);
      expect(out.logits!.dims).toEqual([2, 7, V]);
      const ref = hidden.flatMap((seq) =>
        seq.flatMap((x) => {
          let t = linear(
            x,
            w('cls.predictions.transform.dense.weight'),
            w('cls.predictions.transform.dense.bias'),
            H,
          );
          t = layerNorm(
            t.map(gelu),
            w('cls.predictions.transform.LayerNorm.weight'),
            w('cls.predictions.transform.LayerNorm.bias'),
            1e-12,
          );
          return linear(t, word, w('cls.predictions.bias'), V);
        }),
      );
      expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(tol);
    },
  );

  it.each(EPS)('text-classification logits (pooler → classifier) on %s', async (ep, tol) => {
    const out = await buildAndRun(dir, 'bert', ckpt, 'text-classification', io, ep, { num_labels: LABELS });
    expect(out.logits!.dims).toEqual([2, LABELS]);
    const ref = pooled.flatMap((p) => linear(p, w('classifier.weight'), w('classifier.bias'), LABELS));
    expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(tol);
  });

  it.each(EPS)('token-classification logits (classifier on every token) on %s', async (ep, tol) => {
    const labels = {
      id2label: Object.fromEntries([...Array(LABELS).keys()].map((i) => [String(i), `L${i}`])),
    };
    const out = await buildAndRun(dir, 'bert', ckpt, 'token-classification', io, ep, labels);
    expect(out.logits!.dims).toEqual([2, 7, LABELS]);
    const ref = hidden.flatMap((seq) =>
      seq.flatMap((x) => linear(x, w('classifier.weight'), w('classifier.bias'), LABELS)),
    );
    expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(tol);
  });

  it('refuses a checkpoint without the head it is asked for, naming the tensor (never random)', async () => {
    const err = await buildOnnxModel({
      config: readConfig(join(HF_TINY, 'bert')),
      outDir: join(dir, 'missing'),
      weights: 'safetensors',
      safetensorsPaths: [join(HF_TINY, 'bert', 'model.safetensors')],
      task: 'fill-mask',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe(ErrorCode.INVALID_MODEL);
    expect((err as CoreError).message).toContain('cls.predictions.transform.dense.weight');
  });

  it('refuses a task the model type has no head for (422 naming the available ones)', async () => {
    const err = await buildOnnxModel({
      config: readConfig(join(HF_TINY, 'bert')),
      outDir: join(dir, 'bad-task'),
      weights: 'random',
      task: 'image-classification',
    }).catch((e: unknown) => e);
    expect((err as CoreError).code).toBe(ErrorCode.UNPROCESSABLE);
    expect((err as CoreError).message).toContain('fill-mask');
  });

  it('seeds random head weights like the rest: same seed same logits, another seed other logits', async () => {
    const config = readConfig(join(HF_TINY, 'bert'));
    const run = async (seed: number, name: string) => {
      const built = await buildOnnxModel({
        config,
        outDir: join(dir, name),
        weights: 'random',
        seed,
        task: 'fill-mask',
      });
      const feeds: Record<string, ort.Tensor> = {};
      for (const i of built.inputs) feeds[i.name] = io.inputs[i.name]!;
      return (await runModel(built.onnxPath, feeds)).logits!.data as Float32Array;
    };
    const a = await run(3, 'r1');
    const b = await run(3, 'r2');
    const c = await run(4, 'r3');
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-3);
  });
});

describe('encoder heads on the distilbert fixture (DistilBertFor*)', () => {
  const io = readFixtureIO(join(HF_TINY, 'distilbert'));
  const H = 32;
  const V = 99;
  const hidden = tokens(io.outputs.last_hidden_state!);
  let dir: string;
  let ckpt: string;
  let word: Float32Array;
  const head = seeded(2, {
    'vocab_transform.weight': [H, H],
    'vocab_transform.bias': [H],
    'vocab_layer_norm.weight': [H],
    'vocab_layer_norm.bias': [H],
    'vocab_projector.bias': [V],
    'pre_classifier.weight': [H, H],
    'pre_classifier.bias': [H],
    'classifier.weight': [LABELS, H],
    'classifier.bias': [LABELS],
  });
  const w = (n: string) => head[n]!.data;

  beforeAll(() => {
    dir = tempDir('heads-distilbert');
    ckpt = join(dir, 'model.safetensors');
    word = writeCheckpoint(ckpt, 'distilbert', 'distilbert.', head)['embeddings.word_embeddings.weight']!
      .data;
  });
  afterAll(() => removeDir(dir));

  it.each(EPS)(
    'fill-mask logits (vocab_transform → gelu → vocab_layer_norm → tied projector) on %s',
    async (ep, tol) => {
      const out = await buildAndRun(dir, 'distilbert', ckpt, 'fill-mask', io, ep);
      const ref = hidden.flatMap((seq) =>
        seq.flatMap((x) => {
          const t = linear(x, w('vocab_transform.weight'), w('vocab_transform.bias'), H).map(gelu);
          const n = layerNorm(t, w('vocab_layer_norm.weight'), w('vocab_layer_norm.bias'), 1e-12);
          return linear(n, word, w('vocab_projector.bias'), V);
        }),
      );
      expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(tol);
    },
  );

  it.each(EPS)(
    'text-classification logits (pre_classifier on token 0 → ReLU → classifier) on %s',
    async (ep, tol) => {
      const out = await buildAndRun(dir, 'distilbert', ckpt, 'text-classification', io, ep, {
        num_labels: LABELS,
      });
      const ref = hidden.flatMap((seq) => {
        const pre = linear(seq[0]!, w('pre_classifier.weight'), w('pre_classifier.bias'), H).map((v) =>
          Math.max(0, v),
        );
        return linear(pre, w('classifier.weight'), w('classifier.bias'), LABELS);
      });
      expect(out.logits!.dims).toEqual([2, LABELS]);
      expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(tol);
    },
  );
});

describe('image-classification head on the vit fixture (ViTForImageClassification, DeiT with teacher)', () => {
  const io = readFixtureIO(join(HF_TINY, 'vit'));
  const H = 32;
  const hidden = tokens(io.outputs.last_hidden_state!);
  let dir: string;
  let ckpt: string;
  const head = seeded(3, {
    'classifier.weight': [LABELS, H],
    'classifier.bias': [LABELS],
  });
  const w = (n: string) => head[n]!.data;

  beforeAll(() => {
    dir = tempDir('heads-vit');
    ckpt = join(dir, 'model.safetensors');
    // ViTForImageClassification has no pooler: leave the fixture's out to show it is not needed.
    const base = readAllFloat32(join(HF_TINY, 'vit', 'model.safetensors'));
    const all: Tensors = { ...head };
    for (const [n, t] of Object.entries(base)) if (!n.startsWith('pooler.')) all[`vit.${n}`] = t;
    writeSafetensors(
      ckpt,
      Object.fromEntries(Object.entries(all).map(([n, t]) => [n, { dtype: 'F32' as const, ...t }])),
    );
  });
  afterAll(() => removeDir(dir));

  it.each(EPS)('logits (classifier on the CLS token of the final LayerNorm) on %s', async (ep, tol) => {
    const out = await buildAndRun(dir, 'vit', ckpt, 'image-classification', io, ep, {
      num_labels: LABELS,
    });
    expect(Object.keys(out)).toEqual(['logits']);
    expect(out.logits!.dims).toEqual([2, LABELS]);
    const ref = hidden.flatMap((seq) =>
      linear(seq[0]!, w('classifier.weight'), w('classifier.bias'), LABELS),
    );
    expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(tol);
  });
});

describe('decoder heads on the gpt2 and llama fixtures (feature-extraction is the LM head input)', () => {
  it.each([
    ['gpt2', 'transformer.wte.weight'],
    ['llama', 'lm_head.weight'],
  ])('%s: last_hidden_state @ lm_head^T reproduces the recorded logits on cpu', async (name, table) => {
    const dir = tempDir(`heads-${name}`);
    try {
      const io = readFixtureIO(join(HF_TINY, name));
      const built = await buildOnnxModel({
        config: readConfig(join(HF_TINY, name)),
        outDir: dir,
        weights: 'safetensors',
        safetensorsPaths: [join(HF_TINY, name, 'model.safetensors')],
        task: 'feature-extraction',
      });
      expect(built.outputs.map((o) => o.name)).toEqual(['last_hidden_state']);
      const feeds: Record<string, ort.Tensor> = {};
      for (const i of built.inputs) feeds[i.name] = io.inputs[i.name]!;
      const out = (await runModel(built.onnxPath, feeds)).last_hidden_state!;
      const logits = io.outputs.logits!;
      const V = logits.dims[2]!;
      const head = readAllFloat32(join(HF_TINY, name, 'model.safetensors'))[table]!.data;
      const got = tokens({ data: out.data as Float32Array, dims: out.dims as number[] });
      // Padded query rows are compared too: their states are defined by the model as well.
      const ref = got.flatMap((seq) => seq.flatMap((x) => linear(x, head, undefined, V)));
      expect(maxAbsDiff(ref, logits.data)).toBeLessThan(1e-4);
    } finally {
      removeDir(dir);
    }
  });
});

describe('sentence-transformers pooling on the bert fixture', () => {
  const io = readFixtureIO(join(HF_TINY, 'bert'));
  const hidden = tokens(io.outputs.last_hidden_state!);
  const mask = Array.from(io.inputs.attention_mask!.data as BigInt64Array, Number);
  const S = 7;
  let dir: string;
  beforeAll(() => {
    dir = tempDir('pooling');
  });
  afterAll(() => removeDir(dir));

  function reference(p: PoolingSpec): number[] {
    return hidden.flatMap((seq, b) => {
      const m = seq.map((_, s) => mask[b * S + s]!);
      const count = m.reduce((a, c) => a + c, 0);
      let v: number[];
      if (p.mode === 'cls') v = seq[0]!;
      else if (p.mode === 'max')
        v = seq[0]!.map((_, j) => Math.max(...seq.map((x, s) => (m[s] ? x[j]! : -1e9))));
      else {
        const sum = seq[0]!.map((_, j) => seq.reduce((a, x, s) => a + x[j]! * m[s]!, 0));
        v = sum.map(
          (x) => x / (p.mode === 'mean' ? Math.max(count, 1e-9) : Math.sqrt(Math.max(count, 1e-9))),
        );
      }
      if (p.normalize) {
        const n = Math.max(Math.sqrt(v.reduce((a, x) => a + x * x, 0)), 1e-12);
        v = v.map((x) => x / n);
      }
      return v;
    });
  }

  const cases: [string, PoolingSpec][] = [
    ['mean + normalize (all-MiniLM)', { mode: 'mean', normalize: true }],
    ['mean (paraphrase-MiniLM)', { mode: 'mean', normalize: false }],
    ['cls + normalize (bge)', { mode: 'cls', normalize: true }],
    ['max', { mode: 'max', normalize: false }],
    ['mean_sqrt_len', { mode: 'mean_sqrt_len', normalize: false }],
  ];
  describe.each(cases)('%s', (_name, pooling) => {
    it.each(EPS)('sentence_embedding matches a direct computation on %s', async (ep, tol) => {
      const out = await buildAndRun(
        dir,
        'bert',
        join(HF_TINY, 'bert', 'model.safetensors'),
        'feature-extraction',
        io,
        ep,
        {},
        pooling,
      );
      expect(Object.keys(out).sort()).toEqual(['last_hidden_state', 'pooler_output', 'sentence_embedding']);
      expect(out.sentence_embedding!.dims).toEqual([2, 32]);
      expect(maxAbsDiff(out.sentence_embedding!.data as Float32Array, reference(pooling))).toBeLessThan(tol);
    });
  });

  it('refuses pooling on a task other than feature-extraction', async () => {
    const err = await buildOnnxModel({
      config: readConfig(join(HF_TINY, 'bert')),
      outDir: join(dir, 'bad'),
      weights: 'random',
      task: 'fill-mask',
      pooling: { mode: 'mean', normalize: true },
    }).catch((e: unknown) => e);
    expect((err as CoreError).code).toBe(ErrorCode.UNPROCESSABLE);
  });
});

/**
 * RoBERTa and ELECTRA heads on the base states of our own feature-extraction graph (the bases are
 * checked against references in encoder-variants.spec): the bert fixture's tensors under the
 * `roberta.` / `electra.` prefix, read as those model types.
 */
describe.each([
  ['roberta', 'tanh'],
  ['electra', 'gelu'],
])('%s heads on the base model’s own states', (modelType, act) => {
  const io = readFixtureIO(join(HF_TINY, 'bert'));
  const H = 32;
  const V = 99;
  const over = { model_type: modelType, pad_token_id: 1, embedding_size: H };
  let dir: string;
  let ckpt: string;
  let word: Float32Array;
  const mlm =
    modelType === 'roberta'
      ? ['lm_head.dense', 'lm_head.layer_norm', 'lm_head.bias']
      : ['generator_predictions.dense', 'generator_predictions.LayerNorm', 'generator_lm_head.bias'];
  const head = seeded(5, {
    'classifier.dense.weight': [H, H],
    'classifier.dense.bias': [H],
    'classifier.out_proj.weight': [LABELS, H],
    'classifier.out_proj.bias': [LABELS],
    [`${mlm[0]}.weight`]: [H, H],
    [`${mlm[0]}.bias`]: [H],
    [`${mlm[1]}.weight`]: [H],
    [`${mlm[1]}.bias`]: [H],
    [mlm[2]!]: [V],
  });
  const w = (n: string) => head[n]!.data;
  let hidden: number[][][];

  beforeAll(async () => {
    dir = tempDir(`heads-${modelType}`);
    ckpt = join(dir, 'model.safetensors');
    const base = writeCheckpoint(ckpt, 'bert', `${modelType}.`, head);
    word = base['embeddings.word_embeddings.weight']!.data;
    const out = await buildAndRun(dir, 'bert', ckpt, 'feature-extraction', io, 'cpu', over);
    const t = out.last_hidden_state!;
    hidden = tokens({ data: t.data as Float32Array, dims: t.dims as number[] });
  });
  afterAll(() => removeDir(dir));

  it.each(EPS)(`text-classification (dense on token 0 → ${act} → out_proj) on %s`, async (ep, tol) => {
    const out = await buildAndRun(dir, 'bert', ckpt, 'text-classification', io, ep, {
      ...over,
      num_labels: LABELS,
    });
    const f = act === 'tanh' ? Math.tanh : gelu;
    const ref = hidden.flatMap((seq) => {
      const d = linear(seq[0]!, w('classifier.dense.weight'), w('classifier.dense.bias'), H).map(f);
      return linear(d, w('classifier.out_proj.weight'), w('classifier.out_proj.bias'), LABELS);
    });
    expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(tol);
  });

  it.each(EPS)('fill-mask (dense → gelu → LayerNorm → tied decoder + bias) on %s', async (ep, tol) => {
    const out = await buildAndRun(dir, 'bert', ckpt, 'fill-mask', io, ep, over);
    const ref = hidden.flatMap((seq) =>
      seq.flatMap((x) => {
        const t = linear(x, w(`${mlm[0]}.weight`), w(`${mlm[0]}.bias`), H).map(gelu);
        const n = layerNorm(t, w(`${mlm[1]}.weight`), w(`${mlm[1]}.bias`), 1e-12);
        return linear(n, word, w(mlm[2]!), V);
      }),
    );
    expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(tol);
  });
});

describe('DeiTForImageClassificationWithTeacher on the base model’s own states', () => {
  const io = readFixtureIO(join(HF_TINY, 'vit'));
  const H = 32;
  const over = {
    model_type: 'deit',
    architectures: ['DeiTForImageClassificationWithTeacher'],
    num_labels: LABELS,
  };
  const head = seeded(6, {
    'cls_classifier.weight': [LABELS, H],
    'cls_classifier.bias': [LABELS],
    'distillation_classifier.weight': [LABELS, H],
    'distillation_classifier.bias': [LABELS],
  });
  const w = (n: string) => head[n]!.data;
  let dir: string;
  let ckpt: string;

  beforeAll(() => {
    dir = tempDir('heads-deit');
    ckpt = join(dir, 'model.safetensors');
    const base = readAllFloat32(join(HF_TINY, 'vit', 'model.safetensors'));
    // DeiT adds a distillation token: one more position (17 patches + CLS + distillation = 18).
    const extra = seeded(7, {
      'embeddings.distillation_token': [1, 1, H],
      'embeddings.position_embeddings': [1, 18, H],
    });
    const all: Tensors = { ...head };
    for (const [n, t] of Object.entries({ ...base, ...extra })) all[`deit.${n}`] = t;
    writeSafetensors(
      ckpt,
      Object.fromEntries(Object.entries(all).map(([n, t]) => [n, { dtype: 'F32' as const, ...t }])),
    );
  });
  afterAll(() => removeDir(dir));

  it.each(EPS)(
    'logits = (cls_classifier(token 0) + distillation_classifier(token 1)) / 2 on %s',
    async (ep, tol) => {
      const base = await buildAndRun(dir, 'vit', ckpt, 'feature-extraction', io, 'cpu', over);
      const t = base.last_hidden_state!;
      expect(t.dims).toEqual([2, 18, H]);
      const hidden = tokens({ data: t.data as Float32Array, dims: t.dims as number[] });
      const out = await buildAndRun(dir, 'vit', ckpt, 'image-classification', io, ep, over);
      const ref = hidden.flatMap((seq) => {
        const a = linear(seq[0]!, w('cls_classifier.weight'), w('cls_classifier.bias'), LABELS);
        const b = linear(
          seq[1]!,
          w('distillation_classifier.weight'),
          w('distillation_classifier.bias'),
          LABELS,
        );
        return a.map((v, i) => (v + b[i]!) / 2);
      });
      expect(maxAbsDiff(out.logits!.data as Float32Array, ref)).toBeLessThan(tol);
    },
  );
});
