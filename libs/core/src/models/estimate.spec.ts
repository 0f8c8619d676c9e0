import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HF_TINY, REPO_ROOT } from '../../../../test/fixtures';
import { buildOnnxModel } from '../onnx';
import { readConfig, removeDir, tempDir } from '../onnx/families/spec-helpers';
import {
  activationElements,
  dimsFromConfig,
  estimateMemory,
  estimateMemoryFromFiles,
  GENERATION_OVERHEAD_BYTES,
  generationDiskBytes,
  minBenchmarkSeconds,
  ModelDims,
  RUNTIME_BYTES,
  weightBytes,
  WEIGHT_COPIES,
} from './estimate';
import { findModel, listModels } from './registry';

const GiB = 2 ** 30;

function registryDims(id: string): ModelDims {
  const dims = dimsFromConfig(findModel(id)!.config);
  if (!dims) throw new Error(`no dims for ${id}`);
  return dims;
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

describe('dimsFromConfig', () => {
  it('reads every registry config, with the parameter count GET /api/models lists', () => {
    for (const m of listModels()) {
      const dims = dimsFromConfig(findModel(m.id)!.config);
      expect(dims).toBeDefined();
      expect(dims!.parameters).toBe(m.parameters);
      expect(dims!.hidden).toBeGreaterThan(0);
      expect(dims!.layers).toBeGreaterThan(0);
      expect(dims!.heads).toBeGreaterThan(0);
      expect(dims!.intermediate).toBeGreaterThan(0);
      expect(weightBytes(dims!)).toBe(m.fp32_bytes);
    }
  });

  it('has the dimensions of bert-base-uncased, gpt2, a Llama and ViT', () => {
    expect(registryDims('bert-base-uncased')).toMatchObject({
      family: 'encoder',
      hidden: 768,
      heads: 12,
      layers: 12,
      intermediate: 3072,
      vocab: 30522,
    });
    expect(registryDims('gpt2')).toMatchObject({
      family: 'decoder',
      hidden: 768,
      heads: 12,
      intermediate: 3072,
    });
    expect(registryDims('google/vit-base-patch16-224')).toMatchObject({ family: 'vision', imageTokens: 197 });
  });

  it('knows nothing of an architecture the registry does not build', () => {
    expect(dimsFromConfig({ model_type: 'mamba', hidden_size: 64 })).toBeUndefined();
    expect(dimsFromConfig({})).toBeUndefined();
  });
});

describe('weights and disk against real files', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('estimate');
  });
  afterAll(() => removeDir(dir));

  it.each(['bert', 'distilbert', 'gpt2', 'llama', 'vit'])(
    'estimates the weight bytes of the %s fixture as the generator writes them (fp32 and fp16)',
    async (name) => {
      const config = readConfig(join(HF_TINY, name));
      const dims = dimsFromConfig(config)!;
      for (const precision of ['fp32', 'fp16'] as const) {
        const out = join(dir, `${name}-${precision}`);
        const built = await buildOnnxModel({ config, outDir: out, weights: 'random', precision });
        const data = statSync(built.dataPath).size;
        const estimate = weightBytes(dims, precision);
        // The data file holds the parameters (plus a few small constants), nothing else.
        expect(data).toBeGreaterThanOrEqual(estimate * 0.95);
        expect(data).toBeLessThanOrEqual(estimate * 1.1 + 64 * 1024);
        // A generation's disk estimate covers every file the build wrote.
        expect(generationDiskBytes(dims, precision)).toBeGreaterThanOrEqual(dirBytes(out));
      }
    },
  );

  it('counts a generation as weights plus a fixed overhead', () => {
    const dims = registryDims('bert-base-uncased');
    expect(generationDiskBytes(dims)).toBe(dims.parameters * 4 + GENERATION_OVERHEAD_BYTES);
    expect(generationDiskBytes(dims, 'fp16')).toBe(dims.parameters * 2 + GENERATION_OVERHEAD_BYTES);
  });
});

describe('estimateMemory', () => {
  it('puts bert-base-uncased at batch 1024 × seq 512 far beyond a 24 GiB machine (12 GiB per attention tensor)', () => {
    const dims = registryDims('bert-base-uncased');
    const shape = { batchSize: 1024, sequenceLength: 512 };
    const attentionTensor = shape.batchSize * dims.heads * 512 * 512 * 4;
    expect(attentionTensor).toBe(12 * GiB);
    const e = estimateMemory(dims, [shape]);
    expect(e.activation_bytes).toBeGreaterThan(2 * attentionTensor);
    expect(e.total_bytes).toBeGreaterThan(24 * GiB);
    expect(e).toMatchObject({ batch_size: 1024, sequence_length: 512, basis: 'config' });
  });

  it("accepts the README's bert-base-uncased benchmark (batch 1 and 8 × seq 128) within 2 GiB", () => {
    const dims = registryDims('bert-base-uncased');
    const e = estimateMemory(dims, [
      { batchSize: 1, sequenceLength: 128 },
      { batchSize: 8, sequenceLength: 128 },
    ]);
    expect(e.batch_size).toBe(8);
    expect(e.weights_bytes).toBe(Math.ceil(WEIGHT_COPIES * dims.parameters * 4));
    expect(e.total_bytes).toBeLessThan(2 * GiB);
  });

  it('counts the logits of a decoder and ignores the sequence of a vision model', () => {
    const gpt2 = registryDims('gpt2');
    const { outputs } = activationElements(gpt2, { batchSize: 8, sequenceLength: 128 });
    expect(outputs).toBeGreaterThan(2 * 8 * 128 * gpt2.vocab);
    const vit = registryDims('google/vit-base-patch16-224');
    expect(activationElements(vit, { batchSize: 4, sequenceLength: 8 })).toEqual(
      activationElements(vit, { batchSize: 4, sequenceLength: 4096 }),
    );
  });

  it('grows with batch and sequence, and takes the largest shape asked for', () => {
    const dims = registryDims('prajjwal1/bert-tiny');
    const small = estimateMemory(dims, [{ batchSize: 1, sequenceLength: 8 }]);
    const big = estimateMemory(dims, [{ batchSize: 64, sequenceLength: 512 }]);
    const both = estimateMemory(dims, [
      { batchSize: 64, sequenceLength: 512 },
      { batchSize: 1, sequenceLength: 8 },
    ]);
    expect(big.total_bytes).toBeGreaterThan(small.total_bytes);
    expect(both.total_bytes).toBe(big.total_bytes);
    expect(
      estimateMemory(dims, [{ batchSize: 1, sequenceLength: 8 }], { modelBytes: 1000 }).weights_bytes,
    ).toBe(1000 * WEIGHT_COPIES);
  });

  it('bounds a plain file by its weights alone', () => {
    expect(estimateMemoryFromFiles(100 * 2 ** 20)).toMatchObject({
      total_bytes: WEIGHT_COPIES * 100 * 2 ** 20 + RUNTIME_BYTES,
      activation_bytes: 0,
      basis: 'file-size',
    });
  });

  it('is above the real peak of one inference, and within 4 times of it', async () => {
    // A BERT whose activations dominate at this shape (attention 32 × 4 × 512 × 512), run in a child.
    const config = {
      model_type: 'bert',
      hidden_size: 64,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      intermediate_size: 256,
      vocab_size: 1000,
      max_position_embeddings: 512,
      type_vocab_size: 2,
    };
    const out = tempDir('estimate-rss');
    try {
      await buildOnnxModel({ config, outDir: out, weights: 'random' });
      // The smaller of two measurements: a loaded machine only adds to a process's peak (GC timing,
      // allocator growth), and the estimate bounds the inference, not that noise.
      const measure = () => {
        const line = execFileSync(
          process.execPath,
          ['-r', 'ts-node/register/transpile-only', 'test/peak-rss.ts', join(out, 'model.onnx'), '32', '512'],
          { cwd: REPO_ROOT, encoding: 'utf8' },
        );
        return (JSON.parse(line.trim().split('\n').pop()!) as { growth_bytes: number }).growth_bytes;
      };
      const measured = Math.min(measure(), measure());
      const e = estimateMemory(dimsFromConfig(config)!, [{ batchSize: 32, sequenceLength: 512 }]);
      expect(measured).toBeGreaterThan(0);
      expect(e.total_bytes).toBeGreaterThan(measured);
      expect(e.total_bytes).toBeLessThan(4 * measured);
      // (How each part compares with the process's RSS moves with the machine's load: the figures
      // per part are printed by bench/memory.ts, not asserted here.)
    } finally {
      removeDir(out);
    }
  }, 60_000);
});

describe('minBenchmarkSeconds', () => {
  it('is configurations × min_duration_s', () => {
    expect(minBenchmarkSeconds(4096, 3600)).toBe(4096 * 3600);
    expect(minBenchmarkSeconds(2, 3)).toBe(6);
    expect(minBenchmarkSeconds(3, 0)).toBe(0);
  });
});
