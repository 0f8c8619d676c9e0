import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { HF_TINY } from '../../../../../test/fixtures';
import { countParameters } from '../../models/registry';
import { SeededRandom } from '../../util/random';
import { writeSafetensors } from '../../util/safetensors';
import { buildOnnxModel } from '../index';
import {
  allFinite,
  maxAbsDiff,
  readAllFloat32,
  readConfig,
  removeDir,
  runModel,
  tempDir,
} from './spec-helpers';

jest.setTimeout(120_000);

const deitConfig = {
  model_type: 'deit',
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 37,
  image_size: 32,
  patch_size: 8,
  num_channels: 3,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu',
  qkv_bias: true,
};

function pixels(batch: number, seed: number): ort.Tensor {
  const data = new SeededRandom(seed).fillNormal(new Float32Array(batch * 3 * 32 * 32));
  return new ort.Tensor('float32', data, [batch, 3, 32, 32]);
}

describe('DeiT', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('deit');
  });
  afterAll(() => removeDir(dir));

  it('random weights: CLS + distillation token + 16 patches, pooler on the CLS token, parameters as counted', async () => {
    const built = await buildOnnxModel({
      config: deitConfig,
      outDir: join(dir, 'random'),
      weights: 'random',
      seed: 1,
    });
    expect(built.family).toBe('vision');
    expect(built.inputs).toEqual([
      { name: 'pixel_values', dtype: 'float32', shape: ['batch_size', 3, 32, 32] },
    ]);
    expect(built.outputs).toEqual([
      { name: 'last_hidden_state', dtype: 'float32', shape: ['batch_size', 18, 32] },
      { name: 'pooler_output', dtype: 'float32', shape: ['batch_size', 32] },
    ]);
    expect(built.parameters).toBe(countParameters(deitConfig));
    const out = await runModel(built.onnxPath, { pixel_values: pixels(3, 7) });
    expect(out.last_hidden_state!.dims).toEqual([3, 18, 32]);
    expect(out.pooler_output!.dims).toEqual([3, 32]);
    expect(allFinite(out.last_hidden_state!)).toBe(true);
    expect(allFinite(out.pooler_output!)).toBe(true);
  });

  it('loads a deit.-prefixed checkpoint; a batch row does not depend on the other rows', async () => {
    // The ViT fixture's weights, plus a distillation token and one more position row.
    const vit = readAllFloat32(join(HF_TINY, 'vit', 'model.safetensors'));
    const tensors: Parameters<typeof writeSafetensors>[1] = {};
    for (const [name, t] of Object.entries(vit)) tensors[`deit.${name}`] = { dtype: 'F32', ...t };
    const pos = new Float32Array(18 * 32);
    pos.set(vit['embeddings.position_embeddings']!.data);
    pos.set(new SeededRandom(2).fillNormal(new Float32Array(32), 0, 0.02), 17 * 32);
    tensors['deit.embeddings.position_embeddings'] = { dtype: 'F32', shape: [1, 18, 32], data: pos };
    tensors['deit.embeddings.distillation_token'] = {
      dtype: 'F32',
      shape: [1, 1, 32],
      data: new SeededRandom(3).fillNormal(new Float32Array(32), 0, 0.02),
    };
    const ckpt = join(dir, 'deit.safetensors');
    writeSafetensors(ckpt, tensors);
    const config = { ...readConfig(join(HF_TINY, 'vit')), model_type: 'deit' };
    const built = await buildOnnxModel({
      config,
      outDir: join(dir, 'ckpt'),
      weights: 'safetensors',
      safetensorsPaths: [ckpt],
    });
    const two = pixels(2, 11);
    const both = await runModel(built.onnxPath, { pixel_values: two });
    const first = await runModel(built.onnxPath, {
      pixel_values: new ort.Tensor(
        'float32',
        (two.data as Float32Array).slice(0, 3 * 32 * 32),
        [1, 3, 32, 32],
      ),
    });
    const a = (both.last_hidden_state!.data as Float32Array).subarray(0, 18 * 32);
    expect(maxAbsDiff(a, first.last_hidden_state!.data as Float32Array)).toBeLessThan(1e-6);
  });
});
