import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { SafetensorsFile, floatToHalf, halfToFloat, writeSafetensors } from './safetensors';

const FIXTURE = join(HF_TINY, 'bert/io.safetensors');

describe('SafetensorsFile', () => {
  it('reads the hf-tiny golden inputs and outputs', () => {
    const f = SafetensorsFile.open(FIXTURE);
    expect(f.names()).toEqual(expect.arrayContaining(['input.input_ids', 'output.last_hidden_state']));
    const ids = f.get('input.input_ids');
    expect(ids.dtype).toBe('I64');
    expect(ids.shape).toEqual([2, 7]);
    const mask = f.int64('input.attention_mask');
    expect(Array.from(mask.slice(7)).map(Number)).toEqual([1, 1, 1, 1, 1, 0, 0]);
    const out = f.float32('output.last_hidden_state');
    expect(out.length).toBe(f.get('output.last_hidden_state').shape.reduce((a, b) => a * b, 1));
    expect(out.every(Number.isFinite)).toBe(true);
    f.close();
  });

  it('round-trips what it writes', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'st-')), 'x.safetensors');
    writeSafetensors(path, {
      a: { dtype: 'F32', shape: [2, 2], data: Float32Array.from([1, -2.5, 3, 4]) },
      b: { dtype: 'I64', shape: [3], data: BigInt64Array.from([1n, 2n, -3n]) },
    });
    const f = SafetensorsFile.open(path);
    expect(Array.from(f.float32('a'))).toEqual([1, -2.5, 3, 4]);
    expect(Array.from(f.int64('b'))).toEqual([1n, 2n, -3n]);
    expect(() => f.get('missing')).toThrow(/not found/);
    f.close();
  });

  it('converts half floats both ways', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 1e-5, -3.140625]) {
      expect(halfToFloat(floatToHalf(v))).toBeCloseTo(v, 3);
    }
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
  });
});
