/**
 * The optimized graphs of the encoders, ViT and GPT-2 (com.microsoft MultiHeadAttention,
 * SkipLayerNormalization, BiasGelu / FastGelu) against the portable ones and against transformers
 * (the hf-tiny fixtures), on cpu and webgpu. Llama's is in decoder-optimized.spec, T5's in t5.spec.
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HF_TINY } from '../../../../../test/fixtures';
import { ErrorCode } from '../../errors';
import { buildOnnxModel } from '../index';
import {
  buildFixture,
  errorsAgainstFixture,
  maxAbsDiff,
  opCounts,
  readConfig,
  readFixtureIO,
  removeDir,
  tempDir,
  withDefaultPositions,
} from './spec-helpers';

jest.setTimeout(180_000);

/** Per fixture, what the optimized graph must hold for `layers` layers (and what the portable one has). */
const EXPECTED_OPS: Record<string, (layers: number) => Record<string, number>> = {
  // Post-LN: each add + LayerNorm fused; no per-head Reshape/Transpose left.
  bert: (l) => ({ MultiHeadAttention: l, SkipLayerNormalization: 2 * l, BiasGelu: l, Transpose: 0 }),
  distilbert: (l) => ({ MultiHeadAttention: l, SkipLayerNormalization: 2 * l, BiasGelu: l, Transpose: 0 }),
  // Pre-LN: the first LayerNorm is plain, every later one fuses the add before it (the last: the
  // final layernorm); one Transpose is the patch embedding's.
  vit: (l) => ({
    MultiHeadAttention: l,
    SkipLayerNormalization: 2 * l,
    LayerNormalization: 1,
    BiasGelu: l,
    Transpose: 1,
  }),
  // Attention stays standard ops (causal + padding mask, KV cache); gelu_new is FastGelu.
  gpt2: (l) => ({ SkipLayerNormalization: 2 * l, LayerNormalization: 1, FastGelu: l, Tanh: 0 }),
};

describe.each(Object.keys(EXPECTED_OPS))('optimized graph (%s fixture)', (name) => {
  const dir = join(HF_TINY, name);
  const io = readFixtureIO(dir);
  const config = readConfig(dir);
  const layers = (config.num_hidden_layers ?? config.n_layers ?? config.n_layer) as number;
  let out: string;
  let portable: string;
  let optimized: string;

  beforeAll(async () => {
    out = tempDir(`opt-${name}-`);
    portable = (await buildFixture(dir, join(out, 'portable'), { kvCache: false })).onnxPath;
    const built = await buildFixture(dir, join(out, 'optimized'), { graph: 'optimized', kvCache: false });
    expect(built.graph).toBe('optimized');
    optimized = built.onnxPath;
  });
  afterAll(() => removeDir(out));

  it('fuses every layer', () => {
    const ops = opCounts(optimized);
    for (const [op, count] of Object.entries(EXPECTED_OPS[name]!(layers))) {
      expect([op, ops[op] ?? 0]).toEqual([op, count]);
    }
    expect(opCounts(portable).MultiHeadAttention ?? 0).toBe(0);
  });

  it.each([
    ['cpu', 1e-4],
    ['webgpu', 1e-3],
  ])('reproduces transformers and the portable graph on %s', async (ep, tolerance) => {
    const errors = await errorsAgainstFixture(optimized, io, [ep]);
    for (const [output, err] of Object.entries(errors)) {
      console.log(`${name} optimized ${ep} ${output} max abs error vs transformers ${err.toExponential(3)}`);
      expect(err).toBeLessThan(tolerance);
    }
    const run = async (path: string) => {
      const s = await ort.InferenceSession.create(path, { executionProviders: [ep] });
      try {
        const feeds: Record<string, ort.Tensor> = {};
        for (const n of s.inputNames) if (io.inputs[n]) feeds[n] = io.inputs[n];
        return await s.run(withDefaultPositions(s, feeds));
      } finally {
        await s.release();
      }
    };
    const [a, b] = [await run(optimized), await run(portable)];
    for (const k of Object.keys(b)) {
      expect(maxAbsDiff(a[k]!.data as Float32Array, b[k]!.data as Float32Array)).toBeLessThan(tolerance);
    }
  });
});

describe('graph flavour requests that cannot be built', () => {
  it('is a 400 for a flavour that does not exist, naming the ones that do', async () => {
    await expect(
      buildOnnxModel({
        config: readConfig(join(HF_TINY, 'bert')),
        outDir: tempDir('opt-unknown-'),
        weights: 'random',
        graph: 'fused' as never,
      }),
    ).rejects.toMatchObject({
      code: ErrorCode.VALIDATION,
      message: expect.stringMatching(/graph must be portable or optimized/),
    });
  });
});
