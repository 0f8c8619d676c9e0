import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { CoreError } from '../errors';
import { DATA_FILE, GraphBuilder, MODEL_FILE, floatAttr } from './graph';
import { maxAbsDiff, removeDir, runModel, tempDir } from './families/spec-helpers';

interface DecodedTensor {
  name: string;
  dataType: number;
  dataLocation: number;
  rawData: Uint8Array;
  externalData: { key: string; value: string }[];
}
interface DecodedModel {
  opsetImport: { version: number }[];
  graph: {
    initializer: DecodedTensor[];
    output: { type: { tensorType: { elemType: number } } }[];
  };
}

function decode(path: string): DecodedModel {
  const m = onnx.ModelProto.decode(readFileSync(path));
  return onnx.ModelProto.toObject(m, { longs: Number, defaults: true, arrays: true }) as DecodedModel;
}

/** erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

const REFERENCE: Record<string, (x: number) => number> = {
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_new: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  gelu_pytorch_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  quick_gelu: (x) => x / (1 + Math.exp(-1.702 * x)),
  relu: (x) => Math.max(0, x),
  silu: (x) => x / (1 + Math.exp(-x)),
  tanh: Math.tanh,
};

describe('GraphBuilder', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('graph');
  });
  afterEach(() => removeDir(dir));

  it('computes every activation like its transformers definition', async () => {
    const g = new GraphBuilder('acts', { outDir: dir });
    const x = g.input('x', 'float32', ['n']);
    for (const name of Object.keys(REFERENCE)) g.output(name, 'float32', ['n'], g.activation(x, name));
    await g.save();
    const xs = Float32Array.from({ length: 81 }, (_, i) => (i - 40) / 8);
    const out = await runModel(join(dir, MODEL_FILE), { x: new ort.Tensor('float32', xs, [xs.length]) });
    for (const [name, f] of Object.entries(REFERENCE)) {
      expect(maxAbsDiff(out[name]!.data as Float32Array, Array.from(xs, f))).toBeLessThan(2e-6);
    }
    expect(() => g.activation(x, 'mish')).toThrow(CoreError);
  });

  it('writes every weight as 64-byte aligned external data and constants inline', async () => {
    const g = new GraphBuilder('lin', { outDir: dir });
    const x = g.input('x', 'float32', ['batch', 3]);
    const w = g.weight('w', Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]); // 24 bytes
    const b = g.weight('b', Float32Array.from([0.5, -0.5]), [2]);
    const y = g.mul(g.linear(x, w, b), g.constFloat(2));
    g.output('y', 'float32', ['batch', 2], y);
    const saved = await g.save();
    expect(saved.parameters).toBe(8);
    expect(saved.dataPath).toBe(join(dir, DATA_FILE));
    expect(statSync(saved.dataPath).size).toBe(64 + 8);
    expect(saved.bytesWritten).toBe(64 + 8 + statSync(saved.onnxPath).size);

    const model = decode(saved.onnxPath);
    expect(model.opsetImport[0]!.version).toBe(17);
    const inits = Object.fromEntries(model.graph.initializer.map((t) => [t.name, t]));
    const ext = (name: string) => Object.fromEntries(inits[name]!.externalData.map((e) => [e.key, e.value]));
    expect(inits.w!.dataLocation).toBe(onnx.TensorProto.DataLocation.EXTERNAL);
    expect(ext('w')).toEqual({ location: DATA_FILE, offset: '0', length: '24' });
    expect(ext('b')).toEqual({ location: DATA_FILE, offset: '64', length: '8' });
    const constants = model.graph.initializer.filter((t) => t.name !== 'w' && t.name !== 'b');
    expect(constants.every((t) => t.externalData.length === 0 && t.rawData.length > 0)).toBe(true);

    const out = await runModel(saved.onnxPath, {
      x: new ort.Tensor('float32', Float32Array.from([1, 1, 1, 0, 1, 0]), [2, 3]),
    });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([19, 23, 7, 7]);
  });

  it('streams to a temporary file without outDir and moves it on save', async () => {
    const g = new GraphBuilder('tmp');
    const x = g.input('x', 'float32', [2]);
    g.output('y', 'float32', [2], g.add(x, g.weight('w', Float32Array.from([1, 2]), [2])));
    const saved = await g.save(dir);
    expect(existsSync(saved.dataPath)).toBe(true);
    const out = await runModel(saved.onnxPath, {
      x: new ort.Tensor('float32', Float32Array.from([1, 1]), [2]),
    });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([2, 3]);
  });

  it('fp16: weights are stored as halves, compute is fp16, edges are float32', async () => {
    const g = new GraphBuilder('half', { outDir: dir, precision: 'fp16' });
    expect(g.computeDtype).toBe('float16');
    const x = g.toCompute(g.input('x', 'float32', [2]));
    g.output('y', 'float32', [2], g.mul(x, g.weight('w', Float32Array.from([0.1, 3]), [2])));
    const saved = await g.save();
    expect(statSync(saved.dataPath).size).toBe(4);
    const model = decode(saved.onnxPath);
    expect(model.graph.initializer.find((t) => t.name === 'w')!.dataType).toBe(
      onnx.TensorProto.DataType.FLOAT16,
    );
    expect(model.graph.output[0]!.type.tensorType.elemType).toBe(onnx.TensorProto.DataType.FLOAT);
    const out = await runModel(saved.onnxPath, {
      x: new ort.Tensor('float32', Float32Array.from([1, 2]), [2]),
    });
    expect(out.y!.type).toBe('float32');
    const y = out.y!.data as Float32Array;
    expect(y[0]).not.toBe(Math.fround(0.1)); // rounded through fp16
    expect(Math.abs(y[0]! - 0.1)).toBeLessThan(1e-4);
    expect(y[1]).toBe(6);
  });

  it('names values uniquely, checks inputs exist, encodes attribute types and cleans up on abort', () => {
    const g = new GraphBuilder('misc', { outDir: dir });
    const x = g.input('x', 'float32', [1]);
    const a = g.op('Relu', [x]);
    const b = g.op('Relu', [x]);
    expect(a).not.toBe(b);
    expect(() => g.op('Relu', ['nope'])).toThrow(/nope/);
    expect(() => g.input('x', 'float32', [1])).toThrow(/twice/);
    const [s1, s2] = g.node('Split', [g.constFloat32([1, 2], [2])], 2, { axis: 0, num_outputs: 2 });
    expect(s1).not.toBe(s2);
    expect(g.constInt64([1, 2])).toBe(g.constInt64([1, 2]));
    g.op('LeakyRelu', [x], { alpha: 1 });
    g.op('Elu', [x], { alpha: floatAttr(2) });
    expect(existsSync(join(dir, DATA_FILE))).toBe(true);
    g.abort();
    expect(existsSync(join(dir, DATA_FILE))).toBe(false);
  });
});
