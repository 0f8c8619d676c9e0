/**
 * The optimized Llama-style decoder graph (SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization
 * for every residual add + RMSNorm, com.microsoft RotaryEmbedding on q and k) against transformers (the
 * hf-tiny llama fixture) and against the portable graph, on cpu and webgpu; Qwen2 (q/k/v biases) from
 * random weights. The KV-cache graph's own checks run in decoder-kv.spec.ts for both flavours.
 */
import { join } from 'node:path';
import { HF_TINY } from '../../../../../test/fixtures';
import { buildOnnxModel } from '../index';
import {
  buildFixture,
  errorsAgainstFixture,
  int64Tensor,
  maxAbsDiff,
  opCounts,
  readConfig,
  readFixtureIO,
  removeDir,
  runModel,
  tempDir,
} from './spec-helpers';

jest.setTimeout(180_000);

describe('optimized llama graph (hf-tiny fixture)', () => {
  const dir = join(HF_TINY, 'llama');
  const io = readFixtureIO(dir);
  const layers = readConfig(dir).num_hidden_layers as number;
  let out: string;
  let portable: string;
  let optimized: string;

  beforeAll(async () => {
    out = tempDir('dec-opt-');
    portable = (await buildFixture(dir, join(out, 'portable'), { kvCache: false })).onnxPath;
    const built = await buildFixture(dir, join(out, 'optimized'), { kvCache: false, graph: 'optimized' });
    expect(built.graph).toBe('optimized');
    expect(built.contribOps).toEqual([
      'RotaryEmbedding',
      'SimplifiedLayerNormalization',
      'SkipSimplifiedLayerNormalization',
    ]);
    optimized = built.onnxPath;
  });
  afterAll(() => removeDir(out));

  it('fuses every norm and rotary: one SimplifiedLayerNormalization, two skip norms and two RoPEs a layer', () => {
    const ops = opCounts(optimized);
    expect(ops.SimplifiedLayerNormalization).toBe(1);
    expect(ops.SkipSimplifiedLayerNormalization).toBe(2 * layers);
    expect(ops.RotaryEmbedding).toBe(2 * layers);
    expect(ops.Sin ?? 0).toBe(0);
    expect(ops.ReduceMean ?? 0).toBe(0);
  });

  it.each([
    ['cpu', 1e-4],
    ['webgpu', 1e-3],
  ])('reproduces transformers and the portable graph on %s', async (ep, tolerance) => {
    const errors = await errorsAgainstFixture(optimized, io, [ep]);
    for (const [output, err] of Object.entries(errors)) {
      console.log(`llama optimized ${ep} ${output} max abs error vs transformers ${err.toExponential(3)}`);
      expect(err).toBeLessThan(tolerance);
    }
    const feeds = { input_ids: io.inputs.input_ids!, attention_mask: io.inputs.attention_mask! };
    const [a, b] = [await runModel(optimized, feeds, [ep]), await runModel(portable, feeds, [ep])];
    expect(maxAbsDiff(a.logits!.data as Float32Array, b.logits!.data as Float32Array)).toBeLessThan(
      tolerance,
    );
  });
});

describe('optimized qwen2 graph (random weights, q/k/v biases)', () => {
  it('matches the portable graph on cpu, full sequence and KV-cache prefill', async () => {
    const out = tempDir('dec-opt-qwen2-');
    try {
      const config = {
        model_type: 'qwen2',
        architectures: ['Qwen2ForCausalLM'],
        vocab_size: 64,
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 128,
        rope_theta: 1000000,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        initializer_range: 0.2,
      };
      const ids = [
        [3, 9, 27, 44, 5, 61, 2, 8],
        [0, 0, 0, 14, 15, 16, 17, 18],
      ];
      const mask = [
        [1, 1, 1, 1, 1, 1, 1, 1],
        [0, 0, 0, 1, 1, 1, 1, 1],
      ];
      const positions = [
        [0, 1, 2, 3, 4, 5, 6, 7],
        [1, 1, 1, 0, 1, 2, 3, 4],
      ];
      const feeds = {
        input_ids: int64Tensor(ids),
        attention_mask: int64Tensor(mask),
        position_ids: int64Tensor(positions),
      };
      const logits: Record<string, Float32Array> = {};
      for (const graph of ['portable', 'optimized'] as const) {
        const built = await buildOnnxModel({
          config,
          outDir: join(out, graph),
          weights: 'random',
          seed: 5,
          graph,
          kvCache: false,
        });
        logits[graph] = (await runModel(built.onnxPath, feeds)).logits!.data as Float32Array;
      }
      const err = maxAbsDiff(logits.optimized!, logits.portable!);
      console.log(`qwen2 optimized vs portable, left-padded batch, max abs error ${err.toExponential(3)}`);
      expect(err).toBeLessThan(1e-4);
    } finally {
      removeDir(out);
    }
  });
});
