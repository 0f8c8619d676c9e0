/**
 * A tiny ONNX model built in memory (no file, no download) that detection runs once on an
 * execution provider: y = MatMul(a, b) + a, with a 2x2 input pair whose answer is known.
 */
import { onnx } from 'onnx-proto';

export interface TinyModel {
  bytes: Uint8Array;
  inputs: { a: Float32Array; b: Float32Array };
  shape: [number, number];
  /** The exact answer (small integers: every provider must reproduce it bit for bit). */
  expected: Float32Array;
}

function valueInfo(name: string, shape: number[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d) => ({ dimValue: d })) },
      },
    },
  };
}

let cached: TinyModel | undefined;

/** The serialized ModelProto (opset 17, IR 8) and the inputs and answer to check it with. */
export function tinyModel(): TinyModel {
  if (cached) return cached;
  const shape: [number, number] = [2, 2];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'ipfs-accelerate-detect',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'detect',
      node: [
        { opType: 'MatMul', input: ['a', 'b'], output: ['c'], name: 'matmul' },
        { opType: 'Add', input: ['c', 'a'], output: ['y'], name: 'add' },
      ],
      input: [valueInfo('a', shape), valueInfo('b', shape)],
      output: [valueInfo('y', shape)],
    },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  const a = Float32Array.from([1, 2, 3, 4]);
  const b = Float32Array.from([2, 0, 1, 3]);
  // [[1,2],[3,4]] x [[2,0],[1,3]] = [[4,6],[10,12]]; + a = [[5,8],[13,16]]
  const expected = Float32Array.from([5, 8, 13, 16]);
  cached = { bytes, inputs: { a, b }, shape, expected };
  return cached;
}
