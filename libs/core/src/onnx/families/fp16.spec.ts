import { join } from 'node:path';
import { HF_TINY } from '../../../../../test/fixtures';
import type { BuildOnnxResult } from '../index';
import { buildFixture, errorsAgainstFixture, readFixtureIO, removeDir, tempDir } from './spec-helpers';

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
