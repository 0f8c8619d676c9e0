import { join } from 'node:path';
import { HF_TINY } from '../../../../../test/fixtures';
import type { BuildOnnxResult } from '../index';
import {
  buildFixture,
  errorsAgainstFixture,
  maxAbsDiff,
  opCounts,
  readFixtureIO,
  removeDir,
  runModel,
  tempDir,
} from './spec-helpers';

jest.setTimeout(120_000);

describe.each(['bert', 'vit'])('fp16 build of the %s fixture', (name) => {
  const dir = join(HF_TINY, name);
  const io = readFixtureIO(dir);
  let out: string;
  let built: BuildOnnxResult;
  let fp32: BuildOnnxResult;
  beforeAll(async () => {
    out = tempDir(`fp16-${name}`);
    fp32 = await buildFixture(dir, join(out, 'fp32'));
    built = await buildFixture(dir, join(out, 'fp16'), { precision: 'fp16' });
  });
  afterAll(() => removeDir(out));

  it('stores the same weights at half the size and keeps float32 inputs and outputs', () => {
    expect(built.parameters).toBe(fp32.parameters);
    expect(built.bytesWritten).toBeLessThan(fp32.bytesWritten * 0.75);
    expect(built.inputs).toEqual(fp32.inputs);
    expect(built.outputs).toEqual(fp32.outputs);
  });

  it.each([['cpu'], ['webgpu']])('agrees with the fp32 reference within 2e-2 on %s', async (ep) => {
    const errors = await errorsAgainstFixture(built.onnxPath, io, [ep]);
    console.log(`${name} fp16 ${ep} max abs error`, errors);
    for (const e of Object.values(errors)) expect(e).toBeLessThan(2e-2);
    // and it really computes in fp16: not as close as the fp32 graph
    expect(Math.max(...Object.values(errors))).toBeGreaterThan(1e-5);
  });
});

/**
 * The optimized graph in fp16: its fused ops compute in fp16 as the rest of the graph does. Against
 * transformers (fp32) within fp16's rounding, and against the portable fp16 graph of the same
 * weights, on cpu and webgpu; on webgpu every contrib node runs on the webgpu provider.
 */
describe.each(['bert', 'distilbert', 'vit', 'gpt2', 'llama'])(
  'fp16 optimized graph of the %s fixture',
  (name) => {
    const dir = join(HF_TINY, name);
    const io = readFixtureIO(dir);
    let out: string;
    let optimized: BuildOnnxResult;
    let portable: BuildOnnxResult;
    beforeAll(async () => {
      out = tempDir(`fp16-opt-${name}`);
      const extra = { precision: 'fp16', kvCache: false } as const;
      optimized = await buildFixture(dir, join(out, 'optimized'), { ...extra, graph: 'optimized' });
      portable = await buildFixture(dir, join(out, 'portable'), { ...extra, graph: 'portable' });
    });
    afterAll(() => removeDir(out));

    it.each([['cpu'], ['webgpu']])(
      'reproduces transformers and the portable fp16 graph on %s',
      async (ep) => {
        expect(optimized.graph).toBe('optimized');
        const ops = opCounts(optimized.onnxPath);
        expect(
          (ops.SkipLayerNormalization ?? 0) + (ops.SkipSimplifiedLayerNormalization ?? 0),
        ).toBeGreaterThan(0);
        const errors = await errorsAgainstFixture(optimized.onnxPath, io, [ep]);
        const vsPortable: Record<string, number> = {};
        const feeds = Object.fromEntries(
          optimized.inputs.filter((i) => io.inputs[i.name]).map((i) => [i.name, io.inputs[i.name]!]),
        );
        const a = await runModel(optimized.onnxPath, feeds, [ep]);
        const b = await runModel(portable.onnxPath, feeds, [ep]);
        for (const key of Object.keys(io.outputs)) {
          vsPortable[key] = maxAbsDiff(a[key]!.data as Float32Array, b[key]!.data as Float32Array);
        }
        console.log(`${name} fp16 optimized ${ep}: vs transformers`, errors, 'vs portable fp16', vsPortable);
        for (const e of Object.values(errors)) expect(e).toBeLessThan(2e-2);
        for (const e of Object.values(vsPortable)) expect(e).toBeLessThan(1e-2);
      },
    );
  },
);
