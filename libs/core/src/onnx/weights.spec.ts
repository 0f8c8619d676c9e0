import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreError, ErrorCode } from '../errors';
import { floatToHalf, writeSafetensors } from '../util/safetensors';
import { removeDir, tempDir } from './families/spec-helpers';
import {
  RandomWeights,
  SafetensorsWeights,
  createWeightSource,
  defaultInit,
  expandShards,
  transpose2d,
} from './weights';

/** A safetensors file with one F16 and one BF16 tensor (writeSafetensors writes F32/I64 only). */
function writeHalfFile(path: string, values: number[]): void {
  const f16 = Buffer.alloc(values.length * 2);
  const bf16 = Buffer.alloc(values.length * 2);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  values.forEach((v, i) => {
    f16.writeUInt16LE(floatToHalf(v), i * 2);
    f32[0] = v;
    bf16.writeUInt16LE(u32[0]! >>> 16, i * 2);
  });
  const header = JSON.stringify({
    'model.half': { dtype: 'F16', shape: [values.length], data_offsets: [0, f16.length] },
    'model.brain': { dtype: 'BF16', shape: [values.length], data_offsets: [f16.length, f16.length * 2] },
  });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(header), f16, bf16]));
}

describe('weight sources', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('weights');
  });
  afterEach(() => removeDir(dir));

  it('transposes [out, in] to [in, out]', () => {
    expect(Array.from(transpose2d(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3))).toEqual([1, 4, 2, 5, 3, 6]);
    const big = Float32Array.from({ length: 130 * 70 }, (_, i) => i);
    const t = transpose2d(big, 130, 70);
    expect(t[5 * 130 + 129]).toBe(129 * 70 + 5);
    expect(Array.from(transpose2d(t, 70, 130))).toEqual(Array.from(big));
  });

  it('random: seeded normal weights with the config std, ones for norm scales, zeros for biases', () => {
    expect(defaultInit('encoder.layer.0.output.LayerNorm.weight')).toBe('ones');
    expect(defaultInit('h.0.ln_1.weight')).toBe('ones');
    expect(defaultInit('model.layers.0.input_layernorm.weight')).toBe('ones');
    expect(defaultInit('model.norm.weight')).toBe('ones');
    expect(defaultInit('encoder.layer.0.output.dense.bias')).toBe('zeros');
    expect(defaultInit('encoder.layer.0.output.dense.weight')).toBe('normal');
    const w = new RandomWeights(5, 0.5);
    const a = w.get('x.weight', [100, 100]);
    let sum = 0;
    let sq = 0;
    for (const v of a) {
      sum += v;
      sq += v * v;
    }
    expect(Math.abs(sum / a.length)).toBeLessThan(0.02);
    expect(Math.sqrt(sq / a.length)).toBeCloseTo(0.5, 1);
    expect(Array.from(new RandomWeights(5, 0.5).get('x.weight', [4]))).toEqual(Array.from(a.subarray(0, 4)));
    expect(w.get('LayerNorm.weight', [3]).every((v) => v === 1)).toBe(true);
    expect(w.get('dense.bias', [3]).every((v) => v === 0)).toBe(true);
    expect(w.get('x', [2], { init: { constant: 7 } })).toEqual(Float32Array.from([7, 7]));
    expect(w.has('anything')).toBe(true);
  });

  it('safetensors: resolves prefixes, legacy gamma/beta names and unique suffixes; checks shapes', () => {
    const file = join(dir, 'a.safetensors');
    writeSafetensors(file, {
      'bert.embeddings.LayerNorm.gamma': { dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) },
      'bert.pooler.dense.weight': {
        dtype: 'F32',
        shape: [2, 3],
        data: Float32Array.from([1, 2, 3, 4, 5, 6]),
      },
      'cls.predictions.bias': { dtype: 'F32', shape: [2], data: Float32Array.from([9, 9]) },
      'vit.embeddings.cls_token': { dtype: 'F32', shape: [1, 1, 2], data: Float32Array.from([3, 4]) },
    });
    const w = new SafetensorsWeights([file], ['', 'bert.']);
    expect(Array.from(w.get('embeddings.LayerNorm.weight', [2]))).toEqual([1, 2]);
    expect(w.resolve('pooler.dense.weight')).toBe('bert.pooler.dense.weight');
    expect(Array.from(w.linear('pooler.dense.weight', 3, 2))).toEqual([1, 4, 2, 5, 3, 6]);
    expect(w.resolve('embeddings.cls_token')).toBe('vit.embeddings.cls_token'); // unique suffix
    expect(w.has('encoder.layer.0.attention.self.query.weight')).toBe(false);
    expect(Array.from(w.get('embeddings.cls_token', [1, 1, 2]))).toEqual([3, 4]);
    const missing = (() => {
      try {
        w.get('encoder.layer.0.attention.self.query.weight', [2, 2]);
      } catch (e) {
        return e as CoreError;
      }
    })()!;
    expect(missing.code).toBe(ErrorCode.INVALID_MODEL);
    expect(missing.message).toContain('encoder.layer.0.attention.self.query.weight');
    expect(() => w.get('pooler.dense.weight', [3, 2])).toThrow(/\[2,3\].*\[3,2\]/);
    w.close();
  });

  it('safetensors: converts F16 and BF16 through the reader', () => {
    const file = join(dir, 'h.safetensors');
    writeHalfFile(file, [0.5, -2, 1.5]);
    const w = new SafetensorsWeights([file]);
    expect(Array.from(w.get('half', [3]))).toEqual([0.5, -2, 1.5]);
    expect(Array.from(w.get('brain', [3]))).toEqual([0.5, -2, 1.5]);
    w.close();
  });

  it('safetensors: reads a sharded checkpoint through model.safetensors.index.json', () => {
    writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), {
      'model.a': { dtype: 'F32', shape: [1], data: Float32Array.from([1]) },
    });
    writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), {
      'model.b': { dtype: 'F32', shape: [1], data: Float32Array.from([2]) },
    });
    const index = join(dir, 'model.safetensors.index.json');
    writeFileSync(
      index,
      JSON.stringify({
        weight_map: {
          'model.a': 'model-00001-of-00002.safetensors',
          'model.b': 'model-00002-of-00002.safetensors',
        },
      }),
    );
    expect(expandShards([index])).toHaveLength(2);
    const w = createWeightSource({
      weights: 'safetensors',
      safetensorsPaths: [index],
      prefixes: ['', 'model.'],
    });
    expect(w.kind).toBe('safetensors');
    expect(w.get('a', [1])[0]).toBe(1);
    expect(w.get('b', [1])[0]).toBe(2);
    w.close();
  });

  it('rejects bad options', () => {
    expect(() => createWeightSource({ weights: 'safetensors' })).toThrow(CoreError);
    expect(() => createWeightSource({ weights: 'bogus' as 'random' })).toThrow(/random or safetensors/);
    expect(() => new SafetensorsWeights([join(dir, 'none.safetensors')])).toThrow(CoreError);
  });
});
