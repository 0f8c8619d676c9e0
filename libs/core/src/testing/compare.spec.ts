import { Tensor } from 'onnxruntime-node';
import type { TensorSpec } from '../types';
import { bitwiseEqual, checkOutputSignature, difference, nonFiniteCount } from './compare';

const f32 = (values: number[], dims: number[]) => new Tensor('float32', Float32Array.from(values), dims);
const zeros = (dims: number[]) => f32(Array(dims.reduce((a, b) => a * b, 1)).fill(0), dims);

describe('checkOutputSignature', () => {
  const declared: TensorSpec[] = [
    { name: 'logits', dtype: 'float32', shape: ['b', 'MatMullogits_dim_1', 99] },
    { name: 'hidden', dtype: 'float32', shape: ['b', 'MatMullogits_dim_1', 4] },
  ];

  it('accepts resolved input symbols and a consistent output-only symbol', () => {
    const r = checkOutputSignature({ logits: zeros([2, 5, 99]), hidden: zeros([2, 5, 4]) }, declared, {
      b: 2,
      s: 5,
    });
    expect(r).toEqual({ ok: true, problems: [], output_symbols: { MatMullogits_dim_1: 5 } });
  });

  it('names every mismatch', () => {
    const r = checkOutputSignature(
      {
        logits: zeros([3, 5, 98]),
        hidden: new Tensor('int64', new BigInt64Array(2 * 6 * 4), [2, 6, 4]),
        extra: zeros([1]),
      },
      declared,
      { b: 2 },
    );
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      'logits: axis 0 (b) is 3, expected 2',
      'logits: axis 2 is 98, declared 99',
      'hidden: dtype int64, declared float32',
      'hidden: axis 1 (MatMullogits_dim_1) is 6 but 5 in another output',
      'undeclared outputs: extra',
    ]);
    expect(checkOutputSignature({ logits: zeros([2, 5]) }, declared, { b: 2 }).problems).toEqual([
      'logits: shape [2, 5], declared rank 3 [b, MatMullogits_dim_1, 99]',
      'missing output hidden',
    ]);
    expect(
      checkOutputSignature({ logits: zeros([2, 0, 99]), hidden: zeros([2, 0, 4]) }, declared, { b: 2 }).ok,
    ).toBe(false);
    expect(
      checkOutputSignature(
        { logits: zeros([2, 0, 99]), hidden: zeros([2, 0, 4]) },
        declared,
        { b: 2 },
        { allowEmpty: true },
      ).ok,
    ).toBe(true);
  });
});

describe('difference / bitwiseEqual / nonFiniteCount', () => {
  it('measures max abs and max rel error against the reference', () => {
    const d = difference({ data: [1, 2.5, -3], dims: [3] }, { data: [1, 2, -4], dims: [3] });
    expect(d.max_abs_error).toBe(1);
    expect(d.max_rel_error).toBe(0.25);
    expect(d.count).toBe(3);
    expect(difference({ data: [NaN, 1], dims: [2] }, { data: [0, 1], dims: [2] }).nonfinite_mismatches).toBe(
      1,
    );
    expect(difference({ data: [5n], dims: [1] }, { data: [3n], dims: [1] }).max_abs_error).toBe(2);
  });

  it('compares bytes exactly', () => {
    expect(bitwiseEqual(f32([1, 2], [2]), f32([1, 2], [2]))).toBe(true);
    expect(bitwiseEqual(f32([1, 2], [2]), f32([1, 2 + 2 ** -20], [2]))).toBe(false);
    expect(bitwiseEqual(f32([1, 2], [2]), f32([1, 2], [1, 2]))).toBe(false);
    expect(bitwiseEqual(f32([0], [1]), f32([-0], [1]))).toBe(false);
  });

  it('counts NaN and Inf', () => {
    expect(nonFiniteCount(f32([1, NaN, Infinity, -Infinity, 0], [5]))).toBe(3);
    expect(nonFiniteCount(new Tensor('float16', Uint16Array.from([0x3c00, 0x7c00, 0x7e00]), [3]))).toBe(2);
    expect(nonFiniteCount(new Tensor('int64', BigInt64Array.from([1n]), [1]))).toBe(0);
  });
});
