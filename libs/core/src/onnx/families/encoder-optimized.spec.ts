/**
 * The optimized encoder graph (com.microsoft MultiHeadAttention + SkipLayerNormalization) against the
 * portable one and against transformers (the hf-tiny fixtures), on cpu and webgpu.
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
} from './spec-helpers';

jest.setTimeout(180_000);

describe.each(['bert', 'distilbert'])('optimized encoder graph (%s fixture)', (name) => {
  const dir = join(HF_TINY, name);
  const io = readFixtureIO(dir);
  const layers = (readConfig(dir).num_hidden_layers ?? readConfig(dir).n_layers) as number;
  let out: string;
  let portable: string;
  let optimized: string;

  beforeAll(async () => {
    out = tempDir(`enc-opt-${name}-`);
    portable = (await buildFixture(dir, join(out, 'portable'))).onnxPath;
    const built = await buildFixture(dir, join(out, 'optimized'), { graph: 'optimized' });
    expect(built.graph).toBe('optimized');
    optimized = built.onnxPath;
  });
  afterAll(() => removeDir(out));

  it('fuses every layer: MultiHeadAttention once and SkipLayerNormalization twice, no per-head Transpose', () => {
    const ops = opCounts(optimized);
    expect(ops.MultiHeadAttention).toBe(layers);
    expect(ops.SkipLayerNormalization).toBe(2 * layers);
    expect(ops.Transpose ?? 0).toBe(0);
    expect(opCounts(portable).Transpose).toBeGreaterThanOrEqual(4 * layers);
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
        for (const n of s.inputNames) feeds[n] = io.inputs[n]!;
        return await s.run(feeds);
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
  it('is a 422 for a family without an optimized graph and for fp16, naming why', async () => {
    const config = readConfig(join(HF_TINY, 'gpt2'));
    await expect(
      buildOnnxModel({ config, outDir: tempDir('opt-no-'), weights: 'random', graph: 'optimized' }),
    ).rejects.toMatchObject({
      code: ErrorCode.UNPROCESSABLE,
      message: expect.stringMatching(/decoder family/),
    });
    await expect(
      buildOnnxModel({
        config: readConfig(join(HF_TINY, 'bert')),
        outDir: tempDir('opt-fp16-'),
        weights: 'random',
        precision: 'fp16',
        graph: 'optimized',
      }),
    ).rejects.toMatchObject({
      code: ErrorCode.UNPROCESSABLE,
      message: expect.stringMatching(/computes in fp32.*not fp16/),
    });
  });
});
