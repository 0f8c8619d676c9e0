import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { HF_TINY, HF_TINY_MODELS, REPO_ROOT } from '../../../../test/fixtures';
import { CoreError, ErrorCode } from '../errors';
import type { Feeds, ModelImplementation } from '../types';
import { SafetensorsFile } from '../util/safetensors';
import { hostNodeModules } from './compile';
import { generateImplementation, type GenerateResult } from './generate';
import { loadGeneratedImplementation, loadGeneratedModule } from './loader';
import { cidOfBytes, cidOfFile, verifyManifest } from './manifest';
import { readOnnxIo } from '../models/onnx-file';
import { slugify } from './slug';

jest.setTimeout(180_000);

const FAMILY: Record<(typeof HF_TINY_MODELS)[number], string> = {
  bert: 'encoder',
  distilbert: 'encoder',
  gpt2: 'decoder',
  llama: 'decoder',
  vit: 'vision',
};

const root = mkdtempSync(join(tmpdir(), 'gen-spec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh folder `name` holding the hf-tiny `model`'s export as model.onnx. */
function modelDir(name: string, model: string = name): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(HF_TINY, model, 'torch_export.onnx'), join(dir, 'model.onnx'));
  return dir;
}

function config(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(HF_TINY, name, 'config.json'), 'utf8')) as Record<string, unknown>;
}

/** Every symbolic dim the feeds fixed, by name. */
function knownDims(impl: ModelImplementation, feeds: Feeds): Map<string, number> {
  const known = new Map<string, number>();
  for (const spec of impl.metadata.inputs) {
    spec.shape.forEach((d, i) => {
      const size = feeds[spec.name]?.dims[i];
      if (typeof d === 'string' && size !== undefined) known.set(d, size);
    });
  }
  return known;
}

function expectDeclaredShapes(
  impl: ModelImplementation,
  feeds: Feeds,
  outputs: Record<string, Tensor>,
  batch: number,
): void {
  const known = knownDims(impl, feeds);
  for (const spec of impl.metadata.outputs) {
    const out = outputs[spec.name];
    expect(out).toBeDefined();
    expect(out!.dims).toHaveLength(spec.shape.length);
    expect(out!.dims[0]).toBe(batch);
    spec.shape.forEach((d, i) => {
      const expected = typeof d === 'number' ? d : known.get(d);
      if (expected !== undefined) expect(out!.dims[i]).toBe(expected);
    });
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('generateImplementation on the hf-tiny models', () => {
  const generated = new Map<string, GenerateResult>();

  it.each([...HF_TINY_MODELS])(
    '%s: generates, compiles, loads and reproduces the reference on cpu',
    async (name) => {
      const dir = modelDir(name);
      const io = await readOnnxIo(join(dir, 'model.onnx'));
      const steps: [number, string][] = [];
      const result = await generateImplementation({
        modelDir: dir,
        slug: slugify(`hf-tiny/${name}`),
        modelId: `hf-tiny/${name}`,
        family: FAMILY[name],
        config: config(name),
        inputs: io.inputs,
        outputs: io.outputs,
        backends: ['cpu', 'webgpu'],
        weightsSource: 'safetensors',
        precision: 'fp32',
        seed: 7,
        onProgress: (fraction, step) => steps.push([fraction, step]),
      });
      generated.set(name, result);

      expect(steps.map((s) => s[1])).toEqual([
        'validate',
        'render',
        'type-check',
        'type-check spec',
        'manifest',
        'done',
      ]);
      const fractions = steps.map((s) => s[0]);
      expect([...fractions].sort((a, b) => a - b)).toEqual(fractions);
      expect(fractions.at(-1)).toBe(1);
      expect(result.filePath).toBe(join(dir, `hf-tiny--${name}.ts`));
      expect(existsSync(result.jsPath)).toBe(true);
      expect(existsSync(result.specPath)).toBe(true);
      expect(result.template.name).toBe(`${FAMILY[name]}-universal`);

      // The source imports onnxruntime-node and nothing from libs/core.
      const source = readFileSync(result.filePath, 'utf8');
      const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
      expect(imports).toEqual(['onnxruntime-node']);
      expect(source).not.toMatch(/libs\/core|\.\.\/types|import\(/);

      const impl = loadGeneratedImplementation(result.jsPath);
      expect(impl.metadata.id).toBe(`hf-tiny/${name}`);
      expect(impl.metadata.family).toBe(FAMILY[name]);
      expect(impl.metadata.inputs).toEqual(io.inputs);
      expect(impl.metadata.onnxPath).toBe(`${dir}/model.onnx`);
      expect(impl.metadata.hasTokenizer).toBe(false);

      const handle = await impl.load({ backend: 'cpu' });
      try {
        expect(handle.backend).toBe('cpu');
        expect(handle.encode).toBeUndefined();
        const feeds = impl.makeInputs({ batchSize: 3, sequenceLength: 5, seed: 11 });
        expect(Object.keys(feeds).sort()).toEqual(io.inputs.map((i) => i.name).sort());
        const outputs = await handle.run(feeds);
        expectDeclaredShapes(impl, feeds, outputs, 3);

        // The reference inputs give the reference outputs (the generated path changes nothing).
        const golden = SafetensorsFile.open(join(HF_TINY, name, 'io.safetensors'));
        const refFeeds: Feeds = {};
        for (const spec of impl.metadata.inputs) {
          const entry = golden.get(`input.${spec.name}`);
          refFeeds[spec.name] =
            entry.dtype === 'I64'
              ? new Tensor('int64', golden.int64(`input.${spec.name}`), entry.shape)
              : new Tensor('float32', golden.float32(`input.${spec.name}`), entry.shape);
        }
        const refOut = await handle.run(refFeeds);
        for (const n of golden.names().filter((x) => x.startsWith('output.'))) {
          const out = refOut[n.slice('output.'.length)];
          expect(out).toBeDefined();
          expect(maxAbsDiff(out!.data as Float32Array, golden.float32(n))).toBeLessThan(1e-4);
        }
        golden.close();
      } finally {
        await handle.release();
      }
    },
  );

  it.each([...HF_TINY_MODELS])('%s: runs on webgpu and agrees with cpu', async (name) => {
    const result = generated.get(name);
    expect(result).toBeDefined();
    const impl = loadGeneratedImplementation(result!.jsPath);
    const feeds = impl.makeInputs({ batchSize: 2, sequenceLength: 6, seed: 5 });
    const cpu = await impl.load({ backend: 'cpu' });
    const gpu = await impl.load({ backend: 'webgpu' });
    try {
      expect(gpu.backend).toBe('webgpu');
      const a = await cpu.run(feeds);
      const b = await gpu.run(feeds);
      expectDeclaredShapes(impl, feeds, b, 2);
      for (const spec of impl.metadata.outputs) {
        expect(
          maxAbsDiff(a[spec.name]!.data as Float32Array, b[spec.name]!.data as Float32Array),
        ).toBeLessThan(1e-3);
      }
    } finally {
      await cpu.release();
      await gpu.release();
    }
  });

  it.each([...HF_TINY_MODELS])('%s: the manifest describes every file by its CID', async (name) => {
    const result = generated.get(name)!;
    const manifest = JSON.parse(readFileSync(result.manifestPath, 'utf8')) as GenerateResult['manifest'];
    expect(manifest).toEqual(result.manifest);
    expect(result.cid).toBe(cidOfBytes(readFileSync(result.manifestPath)));
    expect(result.cid).toMatch(/^bafkrei[a-z2-7]{52}$/);
    expect(manifest).toMatchObject({
      model_id: `hf-tiny/${name}`,
      slug: `hf-tiny--${name}`,
      family: FAMILY[name],
      config: config(name),
      template: `${FAMILY[name]}-universal`,
      backends: ['cpu', 'webgpu'],
      generator: {
        name: 'ipfs-accelerate',
        version: (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
          .version,
      },
      weights_source: 'safetensors',
      precision: 'fp32',
      seed: 7,
      has_tokenizer: false,
    });
    expect(Date.parse(manifest.created_at)).not.toBeNaN();
    expect(manifest.files.map((f) => f.path).sort()).toEqual(
      [`hf-tiny--${name}.js`, `hf-tiny--${name}.spec.ts`, `hf-tiny--${name}.ts`, 'model.onnx'].sort(),
    );
    const dir = join(root, name);
    for (const f of manifest.files) {
      const actual = await cidOfFile(join(dir, f.path));
      expect(actual.cid).toBe(f.cid);
      expect(actual.bytes).toBe(f.bytes);
    }
    expect(await verifyManifest(result.manifestPath)).toEqual({ ok: true, mismatches: [] });
  });

  it('the folder is relocatable: moved elsewhere, it loads from its new place', async () => {
    const from = join(root, 'bert');
    const to = join(root, 'moved', 'deeper', 'bert');
    mkdirSync(to, { recursive: true });
    for (const f of readdirSync(from)) copyFileSync(join(from, f), join(to, f));
    rmSync(join(from, 'model.onnx'));
    try {
      const impl = loadGeneratedImplementation(join(to, 'hf-tiny--bert.js'));
      expect(impl.metadata.onnxPath).toBe(`${to}/model.onnx`);
      const handle = await impl.load({ backend: 'cpu' });
      const out = await handle.run(impl.makeInputs({ batchSize: 1, sequenceLength: 4 }));
      expect(out.last_hidden_state!.dims).toEqual([1, 4, 32]);
      await handle.release();
      expect((await verifyManifest(join(to, 'manifest.json'))).ok).toBe(true);
    } finally {
      copyFileSync(join(to, 'model.onnx'), join(from, 'model.onnx'));
    }
  });

  it('the compiled module runs under plain node, outside the repo, without the loader', () => {
    const result = generated.get('gpt2')!;
    const script = `
      const m = require(${JSON.stringify(result.jsPath)});
      (async () => {
        const feeds = m.makeInputs({ batchSize: 2, sequenceLength: 3, seed: 1 });
        const out = await m.run(feeds);
        await m.release();
        console.log(JSON.stringify({ dims: out.logits.dims, backends: m.SUPPORTED_BACKENDS, id: m.default.metadata.id }));
      })().catch((e) => { console.error(e); process.exit(2); });`;
    const child = spawnSync(process.execPath, ['-e', script], {
      cwd: tmpdir(),
      env: { ...process.env, NODE_PATH: hostNodeModules() },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).not.toMatch(/Error/);
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout.trim().split('\n').at(-1)!)).toEqual({
      dims: [2, 3, 99],
      backends: ['cpu', 'webgpu'],
      id: 'hf-tiny/gpt2',
    });
  });

  it('makeInputs is reproducible from its seed and keeps ids inside the vocabulary', () => {
    const impl = loadGeneratedImplementation(generated.get('llama')!.jsPath);
    const a = impl.makeInputs({ batchSize: 4, sequenceLength: 16, seed: 3 });
    const b = impl.makeInputs({ batchSize: 4, sequenceLength: 16, seed: 3 });
    const c = impl.makeInputs({ batchSize: 4, sequenceLength: 16, seed: 4 });
    const ids = Array.from(a.input_ids!.data as BigInt64Array, Number);
    expect(ids).toEqual(Array.from(b.input_ids!.data as BigInt64Array, Number));
    expect(ids).not.toEqual(Array.from(c.input_ids!.data as BigInt64Array, Number));
    expect(ids.every((id) => id >= 0 && id < 99)).toBe(true);
    expect(new Set(ids).size).toBeGreaterThan(20);
    expect(Array.from(a.attention_mask!.data as BigInt64Array).every((v) => v === 1n)).toBe(true);
    expect(a.input_ids!.type).toBe('int64');
    expect(() => impl.makeInputs({ batchSize: 1, sequenceLength: 65 })).toThrow(
      /exceeds the model's 64 positions/,
    );
    expect(() => impl.makeInputs({ batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
    expect(impl.makeInputs({ batchSize: 1 }).input_ids!.dims).toEqual([1, 16]);

    const bert = loadGeneratedImplementation(generated.get('bert')!.jsPath);
    expect(
      Array.from(bert.makeInputs({ batchSize: 2, sequenceLength: 3 }).token_type_ids!.data as BigInt64Array),
    ).toEqual([0n, 0n, 0n, 0n, 0n, 0n]);

    const vit = loadGeneratedImplementation(generated.get('vit')!.jsPath);
    expect(vit.metadata).toMatchObject({ imageSize: 32, numChannels: 3 });
    const pixels = vit.makeInputs({ batchSize: 2, seed: 9 }).pixel_values!;
    expect(pixels.dims).toEqual([2, 3, 32, 32]);
    const values = Array.from(pixels.data as Float32Array);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(std - 1)).toBeLessThan(0.1);
    expect(Array.from(vit.makeInputs({ batchSize: 2, seed: 9 }).pixel_values!.data as Float32Array)).toEqual(
      values,
    );
  });

  it('load refuses backends it was not generated for, and cuda never falls back to cpu', async () => {
    const { implementation, exports } = loadGeneratedModule(generated.get('bert')!.jsPath);
    await expect(implementation.load({ backend: 'cuda' })).rejects.toMatchObject({
      code: 'VALIDATION',
      message: expect.stringMatching(
        /backend cuda is not supported by this implementation \(supported: cpu, webgpu\)/,
      ),
    });
    await expect(
      implementation.load({ backend: 'webgpu', sessionOptions: { executionProviders: ['cpu'] } }),
    ).rejects.toMatchObject({
      code: 'VALIDATION',
      message: expect.stringMatching(/must start with the webgpu provider/),
    });
    expect(exports.TEMPLATE).toBe('encoder-universal');
    expect(exports.DESCRIPTION).toBe('');
  });

  it('cuda: an implementation for cuda fails to load with BACKEND_UNAVAILABLE where CUDA is missing', async () => {
    const dir = modelDir('cuda-distilbert', 'distilbert');
    const io = await readOnnxIo(join(dir, 'model.onnx'));
    const result = await generateImplementation({
      modelDir: dir,
      slug: 'cuda-distilbert',
      modelId: 'hf-tiny/distilbert',
      family: 'encoder',
      config: config('distilbert'),
      inputs: io.inputs,
      outputs: io.outputs,
      backends: ['cpu', 'cuda'],
      weightsSource: 'random',
      precision: 'fp32',
      templateContext: { cudaDeviceId: 0, intraOpNumThreads: 1 },
    });
    expect(result.template.name).toBe('encoder-native');
    const impl = loadGeneratedImplementation(result.jsPath);
    try {
      const handle = await impl.load({ backend: 'cuda' });
      const out = await handle.run(impl.makeInputs({ batchSize: 1, sequenceLength: 4 }));
      expect(out.last_hidden_state!.dims).toEqual([1, 4, 32]);
      await handle.release();
    } catch (err) {
      // No CUDA here: the error says so instead of silently running on CPU.
      expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringMatching(/on cuda/) });
    }
    const cpu = await impl.load({ backend: 'cpu' });
    expect(
      (await cpu.run(impl.makeInputs({ batchSize: 1, sequenceLength: 2 }))).last_hidden_state!.dims,
    ).toEqual([1, 2, 32]);
    await cpu.release();
  });
});

describe('generateImplementation refuses bad requests and leaves nothing behind', () => {
  const base = async (dir: string) => {
    const io = await readOnnxIo(join(dir, 'model.onnx'));
    return {
      modelDir: dir,
      slug: 'bert',
      modelId: 'bert',
      family: 'encoder',
      config: config('bert'),
      inputs: io.inputs,
      outputs: io.outputs,
      backends: ['cpu'] as ('cpu' | 'webgpu')[],
      weightsSource: 'random' as const,
      precision: 'fp32',
    };
  };

  it('a template of another family is a VALIDATION error naming the compatible ones', async () => {
    const dir = modelDir('bad-family', 'bert');
    const err = await generateImplementation({ ...(await base(dir)), template: 'vision-native' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CoreError);
    expect(err).toMatchObject({ code: ErrorCode.VALIDATION });
    expect((err as Error).message).toMatch(
      /template vision-native is for vision models, but this model is encoder; use one of encoder-universal, encoder-native, encoder-webgpu/,
    );
    expect(readdirSync(dir)).toEqual(['model.onnx']);
  });

  it('unknown or mistyped template_context keys are VALIDATION errors', async () => {
    const dir = modelDir('bad-context', 'bert');
    await expect(
      generateImplementation({ ...(await base(dir)), templateContext: { threads: 2 } }),
    ).rejects.toMatchObject({
      code: ErrorCode.VALIDATION,
      details: [{ field: 'template_context.threads', message: expect.stringMatching(/unknown variable/) }],
    });
    await expect(
      generateImplementation({ ...(await base(dir)), templateContext: { intraOpNumThreads: '2' } }),
    ).rejects.toMatchObject({ code: ErrorCode.VALIDATION });
    expect(readdirSync(dir)).toEqual(['model.onnx']);
  });

  it('a missing model.onnx is MODEL_NOT_FOUND; a bad slug is VALIDATION', async () => {
    const dir = modelDir('no-onnx', 'bert');
    const opts = await base(dir);
    rmSync(join(dir, 'model.onnx'));
    await expect(generateImplementation(opts)).rejects.toMatchObject({ code: ErrorCode.MODEL_NOT_FOUND });
    copyFileSync(join(HF_TINY, 'bert', 'torch_export.onnx'), join(dir, 'model.onnx'));
    await expect(generateImplementation({ ...opts, slug: '../evil' })).rejects.toMatchObject({
      code: ErrorCode.VALIDATION,
    });
  });

  it('an aborted generation is CANCELLED and removes what it wrote', async () => {
    const dir = modelDir('aborted', 'bert');
    const controller = new AbortController();
    const err = await generateImplementation({
      ...(await base(dir)),
      signal: controller.signal,
      onProgress: (_f, step) => {
        if (step === 'type-check spec') controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.CANCELLED });
    expect(readdirSync(dir)).toEqual(['model.onnx']);
  });

  it('an outputs list that does not type-check is impossible: a broken spec list is VALIDATION', async () => {
    const dir = modelDir('bad-io', 'bert');
    await expect(
      generateImplementation({ ...(await base(dir)), inputs: [{ name: 'x', dtype: 'int64', shape: [1.5] }] }),
    ).rejects.toMatchObject({ code: ErrorCode.VALIDATION });
    writeFileSync(join(dir, 'note.txt'), 'kept');
    expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'note.txt']);
  });
});
