import { dirname, join } from 'node:path';
import { HF_TINY } from '../../../../../test/fixtures';
import { decoderFamily } from './decoder';
import { buildWithModule, int64Tensor, maxAbsDiffWhere, runModel } from './decoder-spec-utils';
import { readConfig, readFixtureIO, removeDir } from './spec-helpers';

jest.setTimeout(180_000);

describe.each(['gpt2', 'llama'])('decoder family against transformers (%s fixture)', (name) => {
  const dir = join(HF_TINY, name);
  const io = readFixtureIO(dir);
  let onnxPath: string;

  beforeAll(async () => {
    onnxPath = await buildWithModule(decoderFamily, readConfig(dir), {
      weights: 'safetensors',
      safetensorsPaths: [join(dir, 'model.safetensors')],
    });
  });
  afterAll(() => removeDir(dirname(onnxPath)));

  it.each([
    ['cpu', 1e-4],
    ['webgpu', 1e-3],
  ])('logits match on %s (every position, padded ones included)', async (ep, tolerance) => {
    const out = await runModel(onnxPath, io.inputs, [ep]);
    const ref = io.outputs.logits!;
    expect(out.logits!.dims).toEqual(ref.dims);
    const err = maxAbsDiffWhere(out.logits!.data, ref.data);
    console.log(`${name} ${ep} logits max abs error ${err.toExponential(3)}`);
    expect(err).toBeLessThan(tolerance);
  });

  it('matches the torch export on left padding (fully masked rows) and another length', async () => {
    // The TorchScript export of the same model carries transformers' mask semantics (sdpa with
    // fully masked rows set to 0), so it is an oracle for inputs the io file does not hold.
    const ids = [
      [5, 17, 3, 42, 8, 11, 60, 2, 9],
      [7, 7, 90, 1, 33, 2, 14, 3, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1],
    ];
    const mask = [
      [0, 0, 0, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1, 1, 0, 0],
      [0, 1, 1, 1, 1, 1, 1, 1, 0],
    ];
    const feeds = { input_ids: int64Tensor(ids), attention_mask: int64Tensor(mask) };
    const ours = await runModel(onnxPath, feeds);
    const torch = await runModel(join(dir, 'torch_export.onnx'), feeds);
    expect(ours.logits!.dims).toEqual([3, 9, 99]);
    expect(ours.logits!.data.every((v) => Number.isFinite(v))).toBe(true);
    const err = maxAbsDiffWhere(ours.logits!.data, torch.logits!.data);
    console.log(`${name} left-padded vs torch export max abs error ${err.toExponential(3)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it('builds in fp16 and stays close to the reference', async () => {
    const fp16 = await buildWithModule(decoderFamily, readConfig(dir), {
      weights: 'safetensors',
      safetensorsPaths: [join(dir, 'model.safetensors')],
      precision: 'fp16',
    });
    try {
      const out = await runModel(fp16, io.inputs);
      const err = maxAbsDiffWhere(out.logits!.data, io.outputs.logits!.data);
      console.log(`${name} fp16 cpu logits max abs error ${err.toExponential(3)}`);
      expect(err).toBeLessThan(5e-3);
    } finally {
      removeDir(dirname(fp16));
    }
  });

  it('is causal: changing a later token leaves earlier positions unchanged', async () => {
    const ids = [
      [5, 17, 3, 42, 8, 11, 60],
      [7, 7, 90, 1, 33, 2, 14],
    ];
    const mask = ids.map((r) => r.map(() => 1));
    const changed = ids.map((r) => [...r.slice(0, 4), 77, 78, 79]);
    const a = await runModel(onnxPath, { input_ids: int64Tensor(ids), attention_mask: int64Tensor(mask) });
    const b = await runModel(onnxPath, {
      input_ids: int64Tensor(changed),
      attention_mask: int64Tensor(mask),
    });
    const vocab = a.logits!.dims[2]!;
    const early = (i: number) => Math.floor(i / vocab) % 7 < 4;
    expect(maxAbsDiffWhere(a.logits!.data, b.logits!.data, early)).toBeLessThan(1e-6);
    expect(maxAbsDiffWhere(a.logits!.data, b.logits!.data, (i) => !early(i))).toBeGreaterThan(1e-3);
  });
});
