import type { TensorSpec } from '../types';
import {
  bindDims,
  classifyDim,
  dynamicAxes,
  inputRole,
  makeInputs,
  resolveDims,
  resolveShape,
} from './inputs';

const BERT: TensorSpec[] = [
  { name: 'input_ids', dtype: 'int64', shape: ['b', 's'] },
  { name: 'attention_mask', dtype: 'int64', shape: ['b', 's'] },
  { name: 'token_type_ids', dtype: 'int64', shape: ['b', 's'] },
];

describe('dims resolver', () => {
  it('classifies symbol names', () => {
    for (const s of ['b', 'N', 'batch', 'batch_size', 'BatchSize', 'dynamic_batch'])
      expect([s, classifyDim(s)]).toEqual([s, 'batch']);
    for (const s of [
      's',
      'seq',
      'seq_len',
      'sequence',
      'sequence_length',
      'encoder_sequence_length',
      'num_tokens',
    ])
      expect([s, classifyDim(s)]).toEqual([s, 'sequence']);
    expect(classifyDim('past_sequence_length')).toBe('past_sequence');
    expect(classifyDim('total_sequence_length')).toBe('total_sequence');
    expect(classifyDim('height')).toBe('height');
    expect(classifyDim('W')).toBe('width');
    expect(classifyDim('Addlogits_dim_2')).toBe('unknown');
  });

  it('maps every input symbol to a size, by name and else by position', () => {
    const specs: TensorSpec[] = [
      ...BERT,
      { name: 'pixel_values', dtype: 'float32', shape: ['batch', 'num_channels', 'height', 'width'] },
      { name: 'past_key', dtype: 'float32', shape: ['b', 4, 'past_sequence_length', 8] },
      { name: 'mask2', dtype: 'int64', shape: ['x0', 'total_sequence_length'] },
      { name: 'ids2', dtype: 'int64', shape: ['weird0', 'weird1'] },
      { name: 'feat', dtype: 'float32', shape: ['b', 'mystery'] },
    ];
    const dims = resolveDims(specs, {
      batchSize: 3,
      sequenceLength: 5,
      imageSize: 32,
      pastSequenceLength: 2,
    });
    expect(dims).toEqual({
      b: 3,
      s: 5,
      batch: 3,
      num_channels: 3,
      height: 32,
      width: 32,
      past_sequence_length: 2,
      x0: 3,
      total_sequence_length: 7,
      weird0: 3,
      weird1: 5,
      mystery: 5,
    });
    expect(resolveShape(['b', 's', 32], dims)).toEqual([3, 5, 32]);
    expect(() => resolveShape(['b', 'Addlogits_dim_2'], dims)).toThrow(/not resolved/);
    expect(resolveDims(BERT, { batchSize: 1, overrides: { s: 11 } })).toEqual({ b: 1, s: 11 });
  });

  it('knows which axes a model lets the caller choose', () => {
    expect(dynamicAxes(BERT)).toEqual({ batch: true, sequence: true });
    expect(dynamicAxes([{ name: 'pixel_values', dtype: 'float32', shape: ['b', 3, 32, 32] }])).toEqual({
      batch: true,
      sequence: false,
    });
    expect(dynamicAxes([{ name: 'x', dtype: 'float32', shape: [1, 4] }])).toEqual({
      batch: false,
      sequence: false,
    });
  });

  it('binds the symbols that actual feeds imply and rejects inconsistent ones', () => {
    const feeds = makeInputs({ inputs: BERT }, { batchSize: 2, sequenceLength: 6 });
    expect(bindDims(BERT, feeds)).toEqual({ b: 2, s: 6 });
    const bad = {
      ...feeds,
      attention_mask: makeInputs({ inputs: BERT }, { batchSize: 2, sequenceLength: 7 }).attention_mask!,
    };
    expect(() => bindDims(BERT, bad)).toThrow(/symbol s is 7/);
  });
});

describe('makeInputs', () => {
  it('makes meaningful, seeded feeds', () => {
    const md = {
      inputs: [...BERT, { name: 'position_ids', dtype: 'int64', shape: ['b', 's'] } as TensorSpec],
      vocabSize: 50,
    };
    const a = makeInputs(md, { batchSize: 2, sequenceLength: 4, seed: 7 });
    const b = makeInputs(md, { batchSize: 2, sequenceLength: 4, seed: 7 });
    const c = makeInputs(md, { batchSize: 2, sequenceLength: 4, seed: 8 });
    const ids = Array.from(a.input_ids!.data as BigInt64Array).map(Number);
    expect(a.input_ids!.dims).toEqual([2, 4]);
    expect(ids.every((v) => v >= 0 && v < 50)).toBe(true);
    expect(new Set(ids).size).toBeGreaterThan(1);
    expect(Array.from(b.input_ids!.data as BigInt64Array)).toEqual(
      Array.from(a.input_ids!.data as BigInt64Array),
    );
    expect(Array.from(c.input_ids!.data as BigInt64Array)).not.toEqual(
      Array.from(a.input_ids!.data as BigInt64Array),
    );
    expect(Array.from(a.attention_mask!.data as BigInt64Array)).toEqual(Array(8).fill(1n));
    expect(Array.from(a.token_type_ids!.data as BigInt64Array)).toEqual(Array(8).fill(0n));
    expect(Array.from(a.position_ids!.data as BigInt64Array)).toEqual([0n, 1n, 2n, 3n, 0n, 1n, 2n, 3n]);
  });

  it('keeps ids in a small safe range without a vocabulary, and fills pixels with seeded normals', () => {
    const ids = makeInputs({ inputs: BERT.slice(0, 1) }, { batchSize: 4, sequenceLength: 32 }).input_ids!;
    expect(Array.from(ids.data as BigInt64Array).every((v) => v >= 0n && v < 32n)).toBe(true);
    const px = makeInputs(
      { inputs: [{ name: 'pixel_values', dtype: 'float32', shape: ['b', 3, 'h', 'w'] }], imageSize: 16 },
      { batchSize: 1, seed: 3 },
    ).pixel_values!;
    expect(px.dims).toEqual([1, 3, 16, 16]);
    const data = Array.from(px.data as Float32Array);
    const mean = data.reduce((x, y) => x + y, 0) / data.length;
    const sd = Math.sqrt(data.reduce((x, y) => x + (y - mean) ** 2, 0) / data.length);
    expect(Math.abs(mean)).toBeLessThan(0.15);
    expect(sd).toBeGreaterThan(0.8);
    expect(sd).toBeLessThan(1.2);
  });

  it('names input roles', () => {
    expect(inputRole({ name: 'input_ids', dtype: 'int64' })).toBe('ids');
    expect(inputRole({ name: 'decoder_input_ids', dtype: 'int64' })).toBe('ids');
    expect(inputRole({ name: 'attention_mask', dtype: 'int64' })).toBe('mask');
    expect(inputRole({ name: 'token_type_ids', dtype: 'int64' })).toBe('token_types');
    expect(inputRole({ name: 'position_ids', dtype: 'int64' })).toBe('positions');
    expect(inputRole({ name: 'pixel_values', dtype: 'float32' })).toBe('pixels');
    expect(inputRole({ name: 'hidden', dtype: 'float16' })).toBe('float');
    expect(inputRole({ name: 'flag', dtype: 'bool' })).toBe('other');
  });
});
