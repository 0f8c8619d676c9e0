import { join } from 'node:path';
import { HF_TINY } from '../../../../../test/fixtures';
import { buildFixture, errorsAgainstFixture, readFixtureIO, removeDir, tempDir } from './spec-helpers';

jest.setTimeout(120_000);

describe.each(['vit'])('vision family against transformers (%s fixture)', (name) => {
  const dir = join(HF_TINY, name);
  const io = readFixtureIO(dir);
  let out: string;
  let onnxPath: string;

  beforeAll(async () => {
    out = tempDir(`vis-${name}`);
    const built = await buildFixture(dir, out);
    onnxPath = built.onnxPath;
    expect(built.family).toBe('vision');
    expect(built.outputs.map((o) => o.name).sort()).toEqual(Object.keys(io.outputs).sort());
    expect(built.inputs.map((i) => i.name).sort()).toEqual(Object.keys(io.inputs).sort());
  });
  afterAll(() => removeDir(out));

  it('matches on cpu within 1e-4', async () => {
    const errors = await errorsAgainstFixture(onnxPath, io, ['cpu']);
    console.log(`${name} cpu max abs error`, errors);
    for (const e of Object.values(errors)) expect(e).toBeLessThan(1e-4);
  });

  it('matches on webgpu within 1e-3', async () => {
    const errors = await errorsAgainstFixture(onnxPath, io, ['webgpu']);
    console.log(`${name} webgpu max abs error`, errors);
    for (const e of Object.values(errors)) expect(e).toBeLessThan(1e-3);
  });
});
