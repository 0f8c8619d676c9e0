import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { CoreError, ErrorCode } from '../errors';
import { ModelCache } from '../generator/model-cache';
import { buildOnnxModel } from '../onnx';
import { readConfig, removeDir, tempDir } from '../onnx/families/spec-helpers';
import { resolveModelPath } from './paths';
import { checkPrecision, modelGraph, modelPrecision, onnxFilePrecision } from './precision';
import { resolveModel } from './registry';

jest.setTimeout(180_000);

describe('model precision', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('precision');
  });
  afterAll(() => removeDir(dir));

  it('reads it from the graph: fp32, fp16, int8 and int4 builds, and the fixture export', async () => {
    for (const precision of ['fp32', 'fp16', 'int8', 'int4'] as const) {
      const built = await buildOnnxModel({
        config: readConfig(join(HF_TINY, 'bert')),
        outDir: join(dir, precision),
        weights: 'random',
        precision,
      });
      expect(onnxFilePrecision(built.onnxPath)).toBe(precision);
      expect(modelPrecision(resolveModelPath(built.onnxPath, [dir]))).toBe(precision);
    }
    expect(onnxFilePrecision(join(HF_TINY, 'bert', 'torch_export.onnx'))).toBe('fp32');
  });

  it("an int8 model's webgpu graph (MatMulNBits, bits 8) reads as int8, not int4", async () => {
    const built = await buildOnnxModel({
      config: readConfig(join(HF_TINY, 'bert')),
      outDir: join(dir, 'int8-webgpu'),
      weights: 'random',
      precision: 'int8',
      backends: ['cpu', 'webgpu'],
    });
    expect(built.backendGraphs.webgpu!.file).toBe('model.webgpu.onnx');
    expect(onnxFilePrecision(join(dir, 'int8-webgpu', 'model.webgpu.onnx'))).toBe('int8');
  });

  it('reads the graph flavour from the metadata the generator writes; unknown for other graphs', async () => {
    for (const graph of ['portable', 'optimized'] as const) {
      const built = await buildOnnxModel({
        config: readConfig(join(HF_TINY, 'bert')),
        outDir: join(dir, graph),
        weights: 'random',
        graph,
      });
      expect(modelGraph(resolveModelPath(built.onnxPath, [dir]))).toBe(graph);
    }
    const fixture = join(HF_TINY, 'bert', 'torch_export.onnx');
    expect(modelGraph(resolveModelPath(fixture, [HF_TINY]))).toBeUndefined();
  });

  it('refuses a precision the model lacks with a 422 naming the ones it has', () => {
    expect(() => checkPrecision('m', 'fp32', ['fp32', 'fp16'])).not.toThrow();
    expect(() => checkPrecision('m', undefined, ['fp32'])).not.toThrow();
    let err: unknown;
    try {
      checkPrecision('m', 'fp16', ['fp32']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).code).toBe(ErrorCode.UNPROCESSABLE);
    expect((err as CoreError).message).toContain('fp32');
    expect((err as CoreError).details).toMatchObject({ available_precisions: ['fp32'] });
  });

  it('the on-demand cache generates a registry id per precision, each with its manifest saying so', async () => {
    const cache = new ModelCache({ root: dir, dir: join(dir, 'cache'), maxBytes: Number.POSITIVE_INFINITY });
    const ctx = { signal: new AbortController().signal, onProgress: () => undefined };
    const source = resolveModel('prajjwal1/bert-tiny');
    const fp16 = await cache.acquire(source, 0, ctx, undefined, 'fp16');
    const fp32 = await cache.acquire(source, 0, ctx);
    try {
      expect(fp16.dir).not.toBe(fp32.dir);
      expect(modelPrecision(resolveModelPath(fp16.dir, [dir]))).toBe('fp16');
      expect(modelPrecision(resolveModelPath(fp32.dir, [dir]))).toBe('fp32');
      expect(onnxFilePrecision(join(fp16.dir, 'model.onnx'))).toBe('fp16');
    } finally {
      fp16.release();
      fp32.release();
    }
  });
});
