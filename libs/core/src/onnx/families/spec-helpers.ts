/**
 * Helpers for the family specs: build a hf-tiny fixture from its config and model.safetensors, run
 * the ONNX file with onnxruntime-node on the fixture's recorded inputs and measure the largest
 * absolute difference to the recorded transformers outputs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { onnx } from 'onnx-proto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SafetensorsFile } from '../../util/safetensors';
import { HF_TINY as HF_TINY_DIR } from '../../../../../test/fixtures';
import { buildOnnxModel, type BuildOnnxOptions, type BuildOnnxResult } from '../index';

export interface FixtureIO {
  inputs: Record<string, ort.Tensor>;
  outputs: Record<string, { data: Float32Array; dims: number[] }>;
}

export function readFixtureIO(dir: string): FixtureIO {
  const st = SafetensorsFile.open(join(dir, 'io.safetensors'));
  try {
    const inputs: Record<string, ort.Tensor> = {};
    const outputs: FixtureIO['outputs'] = {};
    for (const name of st.names()) {
      const e = st.get(name);
      if (name.startsWith('input.')) {
        const key = name.slice('input.'.length);
        inputs[key] =
          e.dtype === 'I64'
            ? new ort.Tensor('int64', st.int64(name), e.shape)
            : new ort.Tensor('float32', st.float32(name), e.shape);
      } else if (name.startsWith('output.')) {
        outputs[name.slice('output.'.length)] = { data: st.float32(name), dims: e.shape };
      }
    }
    return { inputs, outputs };
  } finally {
    st.close();
  }
}

export function readConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Builds the fixture in `dir` from its checkpoint into `outDir`. */
export function buildFixture(
  dir: string,
  outDir: string,
  extra: Partial<BuildOnnxOptions> = {},
): Promise<BuildOnnxResult> {
  return buildOnnxModel({
    config: readConfig(dir),
    outDir,
    weights: 'safetensors',
    safetensorsPaths: [join(dir, 'model.safetensors')],
    ...extra,
  });
}

/** Runs the model on one execution provider; returns the max abs error per recorded output. */
export async function errorsAgainstFixture(
  onnxPath: string,
  io: FixtureIO,
  executionProviders: string[],
): Promise<Record<string, number>> {
  const session = await ort.InferenceSession.create(onnxPath, {
    executionProviders,
    graphOptimizationLevel: 'all',
  });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) if (io.inputs[name]) feeds[name] = io.inputs[name];
    const results = await session.run(withDefaultPositions(session, feeds));
    const errors: Record<string, number> = {};
    for (const [name, ref] of Object.entries(io.outputs)) {
      const got = results[name];
      if (!got) throw new Error(`model has no output ${name}`);
      expect(got.dims).toEqual(ref.dims);
      errors[name] = maxAbsDiff(got.data as Float32Array, ref.data);
    }
    return errors;
  } finally {
    await session.release();
  }
}

/**
 * `feeds` plus position_ids = arange(seq) per row when the session takes them and they are not
 * given: what transformers' forward uses without position_ids (the fixtures' reference outputs).
 */
export function withDefaultPositions(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
): Record<string, ort.Tensor> {
  const ids = feeds.input_ids;
  if (!session.inputNames.includes('position_ids') || feeds.position_ids || !ids) return feeds;
  const [batch, seq] = ids.dims as [number, number];
  const rows = Array.from({ length: batch }, () => Array.from({ length: seq }, (_, i) => i));
  return { ...feeds, position_ids: int64Tensor(rows) };
}

/** Runs a model once on cpu (or another provider) and returns every output. */
export async function runModel(
  onnxPath: string,
  feeds: Record<string, ort.Tensor>,
  executionProviders: string[] = ['cpu'],
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(onnxPath, { executionProviders });
  try {
    return await session.run(withDefaultPositions(session, feeds));
  } finally {
    await session.release();
  }
}

export function int64Tensor(rows: number[][]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(rows.flat().map((v) => BigInt(v))), [
    rows.length,
    rows[0]!.length,
  ]);
}

/** Reads every tensor of a safetensors file as float32 (F32 checkpoints). */
export function readAllFloat32(path: string): Record<string, { data: Float32Array; shape: number[] }> {
  const st = SafetensorsFile.open(path);
  try {
    return Object.fromEntries(st.names().map((n) => [n, { data: st.float32(n), shape: st.get(n).shape }]));
  } finally {
    st.close();
  }
}

export function allFinite(t: ort.Tensor): boolean {
  return (t.data as Float32Array).every((v) => Number.isFinite(v));
}

/**
 * The oracle check of a family: each named hf-tiny fixture is built from its config and
 * model.safetensors, must declare the fixture's inputs and outputs, and must reproduce the
 * outputs transformers recorded, within 1e-4 on cpu and 1e-3 on webgpu.
 */
export function describeAgainstTransformers(family: string, fixtures: string[]): void {
  describe.each(fixtures)(`${family} family against transformers (%s fixture)`, (name) => {
    const dir = join(HF_TINY_DIR, name);
    const io = readFixtureIO(dir);
    let out: string;
    let onnxPath: string;

    beforeAll(async () => {
      out = tempDir(`${family}-${name}`);
      const built = await buildFixture(dir, out);
      onnxPath = built.onnxPath;
      expect(built.family).toBe(family);
      expect(built.outputs.map((o) => o.name).sort()).toEqual(Object.keys(io.outputs).sort());
      expect(built.inputs.map((i) => i.name).sort()).toEqual(Object.keys(io.inputs).sort());
    });
    afterAll(() => removeDir(out));

    it.each([
      ['cpu', 1e-4],
      ['webgpu', 1e-3],
    ])('matches on %s within %s', async (ep, tolerance) => {
      const errors = await errorsAgainstFixture(onnxPath, io, [ep]);
      console.log(`${name} ${ep} max abs error`, errors);
      for (const e of Object.values(errors)) expect(e).toBeLessThan(tolerance);
    });
  });
}

/** How many nodes of each op type an ONNX file's graph has. */
export function opCounts(onnxPath: string): Record<string, number> {
  const model = onnx.ModelProto.decode(readFileSync(onnxPath));
  const counts: Record<string, number> = {};
  for (const n of model.graph!.node!) counts[n.opType!] = (counts[n.opType!] ?? 0) + 1;
  return counts;
}
