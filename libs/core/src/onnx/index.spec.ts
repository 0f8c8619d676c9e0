import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { CancelledError, CoreError, ErrorCode } from '../errors';
import { countParameters } from '../models/registry';
import { buildOnnxModel, buildableModelTypes, checkGraphFlavour } from './index';
import { readConfig, removeDir, tempDir } from './families/spec-helpers';

describe('buildOnnxModel', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('build');
  });
  afterEach(() => removeDir(dir));

  it('reports progress from 0 to 1 in order and returns the file paths and parameter count', async () => {
    const reports: [number, string][] = [];
    const config = readConfig(join(HF_TINY, 'bert'));
    const r = await buildOnnxModel({
      config,
      outDir: dir,
      weights: 'random',
      onProgress: (f, s) => reports.push([f, s]),
    });
    expect(r.onnxPath).toBe(join(dir, 'model.onnx'));
    expect(r.dataPath).toBe(join(dir, 'model.onnx.data'));
    expect(r.parameters).toBe(countParameters(config));
    expect(r.bytesWritten).toBeGreaterThan(r.parameters * 4);
    const fractions = reports.map(([f]) => f);
    expect(fractions[0]).toBe(0);
    expect(fractions[fractions.length - 1]).toBe(1);
    expect([...fractions].sort((a, b) => a - b)).toEqual(fractions);
    expect(reports.some(([, s]) => s.startsWith('layer 2/2'))).toBe(true);
  });

  it('builds the fixture checkpoints with the same parameter count as the config formula', async () => {
    for (const name of ['bert', 'distilbert', 'vit']) {
      const config = readConfig(join(HF_TINY, name));
      const r = await buildOnnxModel({
        config,
        outDir: join(dir, name),
        weights: 'safetensors',
        safetensorsPaths: [join(HF_TINY, name, 'model.safetensors')],
      });
      expect(r.parameters).toBe(countParameters(config));
    }
  });

  it('stops between layers when the signal fires and leaves no files behind', async () => {
    const controller = new AbortController();
    const config = readConfig(join(HF_TINY, 'bert'));
    const err = await buildOnnxModel({
      config,
      outDir: dir,
      weights: 'random',
      signal: controller.signal,
      onProgress: (_f, step) => {
        if (step.startsWith('layer 1/')) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(readdirSync(dir)).toEqual([]);
    const already = AbortSignal.abort();
    await expect(
      buildOnnxModel({ config, outDir: dir, weights: 'random', signal: already }),
    ).rejects.toBeInstanceOf(CancelledError);
  });

  it('rejects an unsupported or missing model_type', async () => {
    const err = (await buildOnnxModel({
      config: { model_type: 'mamba' },
      outDir: dir,
      weights: 'random',
    }).catch((e: unknown) => e)) as CoreError;
    expect(err.code).toBe(ErrorCode.UNKNOWN_MODEL);
    expect(err.message).toContain('mamba');
    expect(err.message).toContain('bert');
    const none = (await buildOnnxModel({ config: {}, outDir: dir, weights: 'random' }).catch(
      (e: unknown) => e,
    )) as CoreError;
    expect(none.code).toBe(ErrorCode.INVALID_MODEL);
    expect(existsSync(join(dir, 'model.onnx'))).toBe(false);
  });

  it('reports a config field the family needs but the config lacks', async () => {
    const config = { ...readConfig(join(HF_TINY, 'bert')), hidden_size: undefined };
    const err = (await buildOnnxModel({ config, outDir: dir, weights: 'random' }).catch(
      (e: unknown) => e,
    )) as CoreError;
    expect(err.code).toBe(ErrorCode.INVALID_MODEL);
    expect(err.message).toContain('hidden_size');
  });

  it('knows the encoder and vision model types', () => {
    expect(buildableModelTypes()).toEqual(
      expect.arrayContaining(['bert', 'roberta', 'xlm-roberta', 'electra', 'distilbert', 'vit', 'deit']),
    );
  });
});

describe('graph flavour', () => {
  const bert = () => readConfig(join(HF_TINY, 'bert'));
  it('left out: optimized when a GPU is a target, portable for cpu alone', () => {
    expect(checkGraphFlavour(bert(), undefined)).toBe('portable');
    expect(checkGraphFlavour(bert(), undefined, ['cpu'])).toBe('portable');
    expect(checkGraphFlavour(bert(), undefined, ['cpu', 'webgpu'])).toBe('optimized');
    expect(checkGraphFlavour(bert(), undefined, ['cuda'])).toBe('optimized');
  });

  it('a request is kept whatever the backends; anything else is a 400', () => {
    expect(checkGraphFlavour(bert(), 'portable', ['webgpu'])).toBe('portable');
    expect(checkGraphFlavour(bert(), 'optimized', ['cpu'])).toBe('optimized');
    expect(() => checkGraphFlavour(bert(), 'fused' as never, ['cpu'])).toThrow(
      expect.objectContaining({ code: ErrorCode.VALIDATION }) as Error,
    );
  });
});
