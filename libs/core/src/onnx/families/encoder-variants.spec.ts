import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HF_TINY } from '../../../../../test/fixtures';
import { CoreError, ErrorCode } from '../../errors';
import { countParameters } from '../../models/registry';
import { writeSafetensors } from '../../util/safetensors';
import { buildOnnxModel } from '../index';
import {
  allFinite,
  buildFixture,
  int64Tensor,
  maxAbsDiff,
  readAllFloat32,
  readConfig,
  readFixtureIO,
  removeDir,
  runModel,
  tempDir,
} from './spec-helpers';

jest.setTimeout(120_000);

const BERT = join(HF_TINY, 'bert');
const bertConfig = readConfig(BERT);
const bertWeights = readAllFloat32(join(BERT, 'model.safetensors'));
const H = 32;

type Tensors = Parameters<typeof writeSafetensors>[1];

/** The bert fixture's weights under other names (and with some tables replaced). */
function renamed(
  prefix: string,
  replace: Record<string, { shape: number[]; data: Float32Array } | null>,
): Tensors {
  const out: Tensors = {};
  for (const [name, t] of Object.entries(bertWeights)) {
    const r = replace[name];
    if (r === null) continue;
    out[prefix + name] = { dtype: 'F32', ...(r ?? t) };
  }
  return out;
}

/** Element [b, s, :] of a [B, S, H] tensor. */
function rowOf(t: ort.Tensor, b: number, s: number): Float32Array {
  const [, S, D] = t.dims as number[];
  return (t.data as Float32Array).subarray((b * S! + s) * D!, (b * S! + s + 1) * D!);
}

describe('encoder variants against the verified BERT graph', () => {
  let dir: string;
  let bertOnnx: string;
  beforeAll(async () => {
    dir = tempDir('enc-variants');
    bertOnnx = (await buildFixture(BERT, join(dir, 'bert'))).onnxPath;
  });
  afterAll(() => removeDir(dir));

  it('RoBERTa: position ids count from padding_idx + 1 over non-pad tokens; token type row 0 is added', async () => {
    const pad = 1;
    const P = 64 + pad + 1;
    const positions = new Float32Array(P * H);
    // rows 0..pad: values BERT never sees (a wrong offset would show); rows pad+1.. = BERT rows 0..
    for (let i = 0; i < (pad + 1) * H; i++) positions[i] = 5 * Math.sin(i);
    positions.set(bertWeights['embeddings.position_embeddings.weight']!.data, (pad + 1) * H);
    const types = bertWeights['embeddings.token_type_embeddings.weight']!.data.slice(0, H);
    const ckpt = join(dir, 'roberta.safetensors');
    writeSafetensors(
      ckpt,
      renamed('roberta.', {
        'embeddings.position_embeddings.weight': { shape: [P, H], data: positions },
        'embeddings.token_type_embeddings.weight': { shape: [1, H], data: types },
      }),
    );
    const config = {
      ...bertConfig,
      model_type: 'roberta',
      pad_token_id: pad,
      max_position_embeddings: P,
      type_vocab_size: 1,
    };
    const built = await buildOnnxModel({
      config,
      outDir: join(dir, 'roberta'),
      weights: 'safetensors',
      safetensorsPaths: [ckpt],
    });
    expect(built.inputs.map((i) => i.name)).toEqual(['input_ids', 'attention_mask']);

    const ids = [
      [0, 5, 9, 17, 42, 3, 2],
      [0, 7, 8, 98, 2, pad, pad],
    ];
    const mask = [
      [1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 0, 0],
    ];
    const rob = await runModel(built.onnxPath, {
      input_ids: int64Tensor(ids),
      attention_mask: int64Tensor(mask),
    });
    const ref = await runModel(bertOnnx, {
      input_ids: int64Tensor(ids),
      attention_mask: int64Tensor(mask),
      token_type_ids: int64Tensor(ids.map((r) => r.map(() => 0))),
    });
    for (let b = 0; b < 2; b++) {
      for (let s = 0; s < 7; s++) {
        if (!mask[b]![s]) continue;
        expect(
          maxAbsDiff(rowOf(rob.last_hidden_state!, b, s), rowOf(ref.last_hidden_state!, b, s)),
        ).toBeLessThan(1e-5);
      }
    }
    expect(
      maxAbsDiff(rob.pooler_output!.data as Float32Array, ref.pooler_output!.data as Float32Array),
    ).toBeLessThan(1e-5);
  });

  it('ELECTRA (embedding_size = hidden): the BERT encoder without a pooler, from an electra.-prefixed checkpoint', async () => {
    const ckpt = join(dir, 'electra.safetensors');
    writeSafetensors(ckpt, renamed('electra.', { 'pooler.dense.weight': null, 'pooler.dense.bias': null }));
    const config = { ...bertConfig, model_type: 'electra', embedding_size: H };
    const built = await buildOnnxModel({
      config,
      outDir: join(dir, 'electra'),
      weights: 'safetensors',
      safetensorsPaths: [ckpt],
    });
    expect(built.outputs.map((o) => o.name)).toEqual(['last_hidden_state']);
    const io = readFixtureIO(BERT);
    const out = await runModel(built.onnxPath, io.inputs);
    expect(
      maxAbsDiff(out.last_hidden_state!.data as Float32Array, io.outputs.last_hidden_state!.data),
    ).toBeLessThan(1e-4);
  });

  it('names the missing tensor when a checkpoint lacks one', async () => {
    const ckpt = join(dir, 'broken.safetensors');
    writeSafetensors(ckpt, renamed('bert.', { 'encoder.layer.1.output.dense.weight': null }));
    const err = await buildOnnxModel({
      config: bertConfig,
      outDir: join(dir, 'broken'),
      weights: 'safetensors',
      safetensorsPaths: [ckpt],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe(ErrorCode.INVALID_MODEL);
    expect((err as CoreError).message).toContain('encoder.layer.1.output.dense.weight');
  });
});

const tiny = {
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 37,
  vocab_size: 99,
};
const RANDOM_CONFIGS: [string, Record<string, unknown>, string[], string[]][] = [
  [
    'roberta',
    {
      ...tiny,
      model_type: 'roberta',
      max_position_embeddings: 66,
      pad_token_id: 1,
      type_vocab_size: 1,
      layer_norm_eps: 1e-5,
    },
    ['input_ids', 'attention_mask'],
    ['last_hidden_state', 'pooler_output'],
  ],
  [
    'xlm-roberta',
    {
      ...tiny,
      model_type: 'xlm-roberta',
      max_position_embeddings: 66,
      pad_token_id: 1,
      type_vocab_size: 1,
      hidden_act: 'gelu_new',
    },
    ['input_ids', 'attention_mask'],
    ['last_hidden_state', 'pooler_output'],
  ],
  [
    'electra',
    { ...tiny, model_type: 'electra', embedding_size: 16, max_position_embeddings: 64, type_vocab_size: 2 },
    ['input_ids', 'attention_mask', 'token_type_ids'],
    ['last_hidden_state'],
  ],
  [
    'distilbert',
    {
      model_type: 'distilbert',
      dim: 32,
      n_layers: 2,
      n_heads: 4,
      hidden_dim: 37,
      vocab_size: 99,
      max_position_embeddings: 64,
      activation: 'relu',
      sinusoidal_pos_embds: true,
    },
    ['input_ids', 'attention_mask'],
    ['last_hidden_state'],
  ],
];

describe.each(RANDOM_CONFIGS)('random-weight %s graph', (_name, config, inputs, outputs) => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('enc-random');
  });
  afterAll(() => removeDir(dir));

  it('has the transformers inputs and outputs, runs to finite values and counts its parameters', async () => {
    const built = await buildOnnxModel({ config, outDir: dir, weights: 'random', seed: 3 });
    expect(built.family).toBe('encoder');
    expect(built.inputs.map((i) => i.name)).toEqual(inputs);
    for (const i of built.inputs)
      expect(i).toMatchObject({ dtype: 'int64', shape: ['batch_size', 'sequence_length'] });
    expect(built.outputs.map((o) => o.name)).toEqual(outputs);
    expect(built.parameters).toBe(countParameters(config));
    const ids = [
      [0, 4, 9, 3, 2],
      [0, 8, 2, 1, 1],
    ];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64Tensor(ids),
      attention_mask: int64Tensor([
        [1, 1, 1, 1, 1],
        [1, 1, 1, 0, 0],
      ]),
    };
    if (inputs.includes('token_type_ids'))
      feeds.token_type_ids = int64Tensor([
        [0, 0, 1, 1, 1],
        [0, 1, 1, 1, 1],
      ]);
    const out = await runModel(built.onnxPath, feeds);
    expect(out.last_hidden_state!.dims).toEqual([2, 5, 32]);
    expect(allFinite(out.last_hidden_state!)).toBe(true);
    if (outputs.includes('pooler_output')) {
      expect(out.pooler_output!.dims).toEqual([2, 32]);
      expect((out.pooler_output!.data as Float32Array).every((v) => Math.abs(v) <= 1)).toBe(true);
    }
    // The same seed gives the same model; another seed another one.
    const again = await buildOnnxModel({ config, outDir: join(dir, 'again'), weights: 'random', seed: 3 });
    const other = await buildOnnxModel({ config, outDir: join(dir, 'other'), weights: 'random', seed: 4 });
    const a = (await runModel(again.onnxPath, feeds)).last_hidden_state!.data as Float32Array;
    const o = (await runModel(other.onnxPath, feeds)).last_hidden_state!.data as Float32Array;
    expect(maxAbsDiff(a, out.last_hidden_state!.data as Float32Array)).toBe(0);
    expect(maxAbsDiff(o, a)).toBeGreaterThan(1e-3);
  });
});

describe('encoder config errors', () => {
  it('rejects an unsupported activation and relative position embeddings', async () => {
    const dir = tempDir('enc-bad');
    try {
      const bad = (over: Record<string, unknown>) =>
        buildOnnxModel({ config: { ...bertConfig, ...over }, outDir: dir, weights: 'random' }).then(
          () => new CoreError(ErrorCode.INTERNAL, 'built'),
          (e: unknown) => e as CoreError,
        );
      const act = await bad({ hidden_act: 'mish' });
      expect(act.code).toBe(ErrorCode.INVALID_MODEL);
      expect(act.message).toContain('mish');
      const rel = await bad({ position_embedding_type: 'relative_key' });
      expect(rel.code).toBe(ErrorCode.INVALID_MODEL);
      expect(rel.message).toContain('relative_key');
    } finally {
      removeDir(dir);
    }
  });
});
