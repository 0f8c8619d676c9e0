/** The Generator API end to end: registry, templates, generation from a local checkpoint, then tests on the result. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { DRIVERS, TestServer, json, postJson, startServer, waitFor } from './app';

jest.setTimeout(300_000);

describe.each(DRIVERS)('Generator API (%s driver)', (driver) => {
  let server: TestServer;
  const post = (path: string, body: unknown) => postJson(server.url, path, body);

  beforeAll(async () => {
    server = await startServer(driver);
  });
  afterAll(async () => {
    await server.close();
  });

  it('lists at least 40 models with their default task and the parameter count of that graph', async () => {
    const models = await json<Array<{ id: string; family: string; parameters: number; fp32_bytes: number }>>(
      await fetch(`${server.url}/api/models`),
    );
    expect(models.length).toBeGreaterThanOrEqual(40);
    const bert = models.find((m) => m.id === 'bert-base-uncased');
    // BertForMaskedLM, as the checkpoint's architectures name it.
    expect(bert).toMatchObject({
      family: 'encoder',
      task: 'fill-mask',
      tasks: ['feature-extraction', 'fill-mask', 'text-classification', 'token-classification'],
      parameters: 109_514_298,
      fp32_bytes: 109_514_298 * 4,
    });
    expect(models.find((m) => m.id === 'sentence-transformers/all-MiniLM-L6-v2')).toMatchObject({
      task: 'feature-extraction',
      pooling: { mode: 'mean', normalize: true },
    });
    expect(new Set(models.map((m) => m.family))).toEqual(
      new Set(['encoder', 'decoder', 'vision', 'encoder-decoder']),
    );
  });

  it('generates a causal LM with a KV cache; the Test Suite generates text with it and checks the cache', async () => {
    const res = await post('/api/generator/model', {
      model_name: 'llama',
      hardware: ['cpu', 'webgpu'],
      output_dir: `llama-kv-${driver}`,
    });
    expect(res.status).toBe(202);
    const { task_id } = await json<{ task_id: string }>(res);
    expect((await waitFor(`${server.url}/api/generator/status/${task_id}`)).status).toBe('completed');
    const results = await json<Record<string, unknown>>(
      await fetch(`${server.url}/api/generator/results/${task_id}`),
    );
    expect(results).toMatchObject({ task: 'text-generation', kv_cache: true });
    const manifest = JSON.parse(readFileSync(String(results.manifest_path), 'utf8')) as {
      kv_cache: boolean;
      inputs: Array<{ name: string }>;
    };
    expect(manifest.kv_cache).toBe(true);
    expect(manifest.inputs.map((i) => i.name)).toEqual(
      expect.arrayContaining(['position_ids', 'past_key_values.0.key', 'past_key_values.1.value']),
    );

    const runTest = async (body: Record<string, unknown>) => {
      const run = await post('/api/test/run', { model_name: `models/llama-kv-${driver}`, ...body });
      expect(run.status).toBe(202);
      const { run_id } = await json<{ run_id: string }>(run);
      expect((await waitFor(`${server.url}/api/test/status/${run_id}`)).status).toBe('completed');
      return json<{
        status: string;
        test_details: Array<{
          status: string;
          name: string;
          backend: string;
          metrics?: Record<string, unknown>;
        }>;
      }>(await fetch(`${server.url}/api/test/results/${run_id}`));
    };
    const generated = await runTest({
      hardware: ['cpu', 'webgpu'],
      test_type: 'generation',
      generation: {
        input_ids: [
          [5, 17, 3, 42],
          [7, 90],
        ],
        max_new_tokens: 8,
      },
    });
    expect(generated.test_details.filter((d) => d.status !== 'passed')).toEqual([]);
    expect(generated.status).toBe('passed');
    for (const backend of ['cpu', 'webgpu']) {
      const d = generated.test_details.find((t) => t.name === 'generate' && t.backend === backend)!;
      expect(d.status).toBe('passed');
      expect(d.metrics).toMatchObject({ prompt_tokens: [4, 2], new_tokens: [8, 8], kv_cache: true });
      expect(d.metrics!.ttft_ms).toEqual(expect.any(Number));
      expect(d.metrics!.tpot_ms).toEqual(expect.any(Number));
    }
    const comprehensive = await runTest({ hardware: ['cpu'], test_type: 'comprehensive' });
    expect(comprehensive.test_details.filter((d) => d.status === 'failed')).toEqual([]);
    expect(comprehensive.test_details.map((d) => d.name)).toEqual(
      expect.arrayContaining(['cache_consistency', 'generation_padding', 'generation_determinism']),
    );
    // A prompt that does not fit the context fails the check with the reason, not the server.
    const tooLong = await runTest({
      hardware: ['cpu'],
      test_type: 'generation',
      generation: { input_ids: [[1, 2, 3]], max_new_tokens: 100 },
    });
    expect(tooLong.status).toBe('failed');
    expect(tooLong.test_details.find((d) => d.name === 'generate')).toMatchObject({
      status: 'failed',
      message: expect.stringMatching(/exceeds the model's context of 64 positions/),
    });
  });

  it('builds the optimized (fused) graph by default for a GPU target, in fp16 too, and the Test Suite passes it on cpu and webgpu', async () => {
    // No `graph`: webgpu among the targets makes it the fused one.
    const res = await post('/api/generator/model', {
      model_name: 'bert',
      hardware: ['cpu', 'webgpu'],
      precision: 'fp16',
      output_dir: `bert-optimized-${driver}`,
    });
    expect(res.status).toBe(202);
    const { task_id } = await json<{ task_id: string }>(res);
    expect((await waitFor(`${server.url}/api/generator/status/${task_id}`)).status).toBe('completed');
    const results = await json<Record<string, unknown>>(
      await fetch(`${server.url}/api/generator/results/${task_id}`),
    );
    expect(results).toMatchObject({ graph: 'optimized', precision: 'fp16', kv_cache: false });
    expect(JSON.parse(readFileSync(String(results.manifest_path), 'utf8'))).toMatchObject({
      graph: 'optimized',
      precision: 'fp16',
      backend_ops: {
        webgpu: { native: ['BiasGelu', 'MultiHeadAttention', 'SkipLayerNormalization'], cpu_fallback: [] },
      },
    });
    const run = await post('/api/test/run', {
      model_name: `models/bert-optimized-${driver}`,
      hardware: ['cpu', 'webgpu'],
      test_type: 'comprehensive',
    });
    const { run_id } = await json<{ run_id: string }>(run);
    expect((await waitFor(`${server.url}/api/test/status/${run_id}`)).status).toBe('completed');
    const tr = await json<{ status: string; test_details: Array<{ status: string; name: string }> }>(
      await fetch(`${server.url}/api/test/results/${run_id}`),
    );
    expect(tr.test_details.filter((d) => d.status === 'failed')).toEqual([]);
    expect(tr.status).toBe('passed');
  });

  it('gives webgpu its own int8 graph (MatMulNBits, bits 8), which the Test Suite runs beside cpu', async () => {
    const res = await post('/api/generator/model', {
      model_name: 'bert',
      hardware: ['cpu', 'webgpu'],
      precision: 'int8',
      graph: 'optimized',
      output_dir: `bert-int8-${driver}`,
    });
    expect(res.status).toBe(202);
    const { task_id } = await json<{ task_id: string }>(res);
    expect((await waitFor(`${server.url}/api/generator/status/${task_id}`)).status).toBe('completed');
    const results = await json<Record<string, unknown>>(
      await fetch(`${server.url}/api/generator/results/${task_id}`),
    );
    const manifest = JSON.parse(readFileSync(String(results.manifest_path), 'utf8')) as {
      files: Array<{ path: string; role: string }>;
      backend_ops: Record<string, { native: string[]; cpu_fallback: string[] }>;
    };
    const fused = ['BiasGelu', 'MultiHeadAttention', 'SkipLayerNormalization'];
    expect(manifest).toMatchObject({
      precision: 'int8',
      backend_graphs: { webgpu: 'model.webgpu.onnx' },
      backend_ops: {
        cpu: {
          native: ['BiasGelu', 'DynamicQuantizeMatMul', 'MultiHeadAttention', 'SkipLayerNormalization'],
        },
        webgpu: { native: [...fused, 'MatMulNBits'].sort(), cpu_fallback: [] },
      },
    });
    expect(manifest.files.filter((f) => f.role === 'onnx').map((f) => f.path)).toEqual([
      'model.onnx',
      'model.webgpu.onnx',
    ]);
    const run = await post('/api/test/run', {
      model_name: `models/bert-int8-${driver}`,
      hardware: ['cpu', 'webgpu'],
      test_type: 'comprehensive',
    });
    const { run_id } = await json<{ run_id: string }>(run);
    expect((await waitFor(`${server.url}/api/test/status/${run_id}`)).status).toBe('completed');
    const tr = await json<{ status: string; precision: string; test_details: Array<{ status: string }> }>(
      await fetch(`${server.url}/api/test/results/${run_id}`),
    );
    expect(tr.test_details.filter((d) => d.status === 'failed')).toEqual([]);
    expect(tr).toMatchObject({ status: 'passed', precision: 'int8', graph: 'optimized' });
  });

  it('generates an optimized int4 (MatMulNBits) KV-cache llama whose generation checks pass on cpu and webgpu', async () => {
    const OPTIMIZED_INT4_LLAMA_OPS = [
      'MatMulNBits',
      'RotaryEmbedding',
      'SimplifiedLayerNormalization',
      'SkipSimplifiedLayerNormalization',
    ];
    const res = await post('/api/generator/model', {
      model_name: 'llama',
      hardware: ['cpu', 'webgpu'],
      precision: 'int4',
      block_size: 16,
      graph: 'optimized',
      output_dir: `llama-int4-${driver}`,
    });
    expect(res.status).toBe(202);
    const { task_id } = await json<{ task_id: string }>(res);
    expect((await waitFor(`${server.url}/api/generator/status/${task_id}`)).status).toBe('completed');
    const results = await json<Record<string, unknown>>(
      await fetch(`${server.url}/api/generator/results/${task_id}`),
    );
    expect(results).toMatchObject({ precision: 'int4', block_size: 16, kv_cache: true });
    expect(JSON.parse(readFileSync(String(results.manifest_path), 'utf8'))).toMatchObject({
      precision: 'int4',
      block_size: 16,
      graph: 'optimized',
      backend_ops: {
        cpu: { native: [...OPTIMIZED_INT4_LLAMA_OPS], cpu_fallback: [] },
        webgpu: { native: [...OPTIMIZED_INT4_LLAMA_OPS], cpu_fallback: [] },
      },
    });
    const run = await post('/api/test/run', {
      model_name: `models/llama-int4-${driver}`,
      hardware: ['cpu', 'webgpu'],
      test_type: 'generation',
      generation: { input_ids: [[1, 5, 9, 14]], max_new_tokens: 6 },
    });
    expect(run.status).toBe(202);
    const { run_id } = await json<{ run_id: string }>(run);
    expect((await waitFor(`${server.url}/api/test/status/${run_id}`)).status).toBe('completed');
    const tr = await json<{ status: string; precision: string; test_details: Array<{ status: string }> }>(
      await fetch(`${server.url}/api/test/results/${run_id}`),
    );
    expect(tr.test_details.filter((d) => d.status === 'failed')).toEqual([]);
    expect(tr).toMatchObject({ status: 'passed', precision: 'int4' });
  });

  it('refuses generation requests that cannot work, changing nothing', async () => {
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ model_name: 'llama', test_type: 'generation' }, 400, /exactly one of generation.prompt/],
      [
        { model_name: 'llama', test_type: 'generation', generation: { prompt: 'a', input_ids: [[1]] } },
        400,
        /exactly one of .*\(got prompt, input_ids\)/,
      ],
      [
        { model_name: 'llama', test_type: 'basic', generation: { prompt: 'a' } },
        400,
        /only for test_type generation/,
      ],
      [
        { model_name: 'llama', test_type: 'generation', generation: { input_ids: [[1, -2]] } },
        400,
        /non-negative integers/,
      ],
      [{ model_name: 'llama', test_type: 'generation', generation: { prompt: 'a', top_p: 2 } }, 400, /top_p/],
    ];
    for (const [body, status, message] of cases) {
      const res = await post('/api/test/run', body);
      expect(res.status).toBe(status);
      expect(JSON.stringify(await json(res))).toMatch(message);
    }
    const flavour = await post('/api/generator/model', {
      model_name: 'gpt2',
      graph: 'fused',
      output_dir: 'never',
    });
    expect(flavour.status).toBe(400);
    expect(JSON.stringify(await json(flavour))).toMatch(
      /graph must be one of the following values: portable, optimized/,
    );
    const kv = await post('/api/generator/model', {
      model_name: 'bert',
      kv_cache: true,
      output_dir: 'never',
    });
    expect(kv.status).toBe(422);
    expect(JSON.stringify(await json(kv))).toMatch(/has no KV-cache graph/);
    const blocks = await post('/api/generator/model', {
      model_name: 'bert',
      block_size: 32,
      output_dir: 'never',
    });
    expect(blocks.status).toBe(422);
    expect(JSON.stringify(await json(blocks))).toMatch(/block_size applies to precision int4 only/);
    const odd = await post('/api/generator/model', {
      model_name: 'bert',
      precision: 'int4',
      block_size: 24,
      output_dir: 'never',
    });
    expect(odd.status).toBe(400);
    expect(existsSync(join(server.dataDir, 'models', 'never'))).toBe(false);
  });

  it('lists templates with their variables', async () => {
    const templates = await json<
      Array<{ name: string; family: string; backends: string[]; variables: unknown[] }>
    >(await fetch(`${server.url}/api/generator/templates`));
    expect(templates.length).toBeGreaterThan(0);
    expect(new Set(templates.map((t) => t.family))).toEqual(
      new Set(['encoder', 'decoder', 'vision', 'encoder-decoder']),
    );
  });

  it('generates from a local checkpoint, streams progress, and the Test Suite passes on the result', async () => {
    const res = await post('/api/generator/model', {
      model_name: 'bert',
      hardware: ['cpu', 'webgpu'],
      output_dir: `bert-${driver}`,
    });
    expect(res.status).toBe(202);
    const { task_id } = await json<{ task_id: string }>(res);
    const ws = new WebSocket(`${server.wsUrl}/api/generator/ws/${task_id}`);
    const steps: string[] = [];
    ws.on('message', (d) =>
      steps.push(String((JSON.parse(String(d)) as { current_step: string }).current_step)),
    );
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    const status = await waitFor(`${server.url}/api/generator/status/${task_id}`);
    expect(status).toMatchObject({ status: 'completed' });
    expect(await closed).toBe(1000);
    expect(steps.length).toBeGreaterThan(1);
    const results = await json<Record<string, unknown>>(
      await fetch(`${server.url}/api/generator/results/${task_id}`),
    );
    expect(results).toMatchObject({ task_id, family: 'encoder', weights: 'safetensors', precision: 'fp32' });
    expect(String(results.file_path)).toMatch(/\.ts$/);
    for (const k of ['file_path', 'js_path', 'onnx_path', 'manifest_path'])
      expect(existsSync(String(results[k]))).toBe(true);
    expect(String(results.cid)).toMatch(/^baf/);
    const manifest = JSON.parse(readFileSync(String(results.manifest_path), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(manifest).toMatchObject({ family: 'encoder' });

    // The Test Suite loads and exercises the generated implementation itself.
    const run = await post('/api/test/run', {
      model_name: `models/bert-${driver}`,
      hardware: ['cpu', 'webgpu'],
      test_type: 'comprehensive',
    });
    expect(run.status).toBe(202);
    const { run_id } = await json<{ run_id: string }>(run);
    expect((await waitFor(`${server.url}/api/test/status/${run_id}`)).status).toBe('completed');
    const tr = await json<{ status: string; test_details: Array<{ status: string; name: string }> }>(
      await fetch(`${server.url}/api/test/results/${run_id}`),
    );
    expect(tr.test_details.filter((d) => d.status === 'failed')).toEqual([]);
    expect(tr.status).toBe('passed');

    // The same output again without force is a conflict; with force it is accepted.
    const again = await post('/api/generator/model', { model_name: 'bert', output_dir: `bert-${driver}` });
    expect(again.status).toBe(409);
    const forced = await post('/api/generator/model', {
      model_name: 'bert',
      output_dir: `bert-${driver}`,
      force: true,
    });
    expect(forced.status).toBe(202);
    await waitFor(`${server.url}/api/generator/status/${(await json<{ task_id: string }>(forced)).task_id}`);
  });

  it('generates a registry model with random weights at its real size', async () => {
    const res = await post('/api/generator/model', {
      model_name: 'google/electra-small-discriminator',
      output_dir: `electra-${driver}`,
    });
    expect(res.status).toBe(202);
    const { task_id } = await json<{ task_id: string }>(res);
    expect((await waitFor(`${server.url}/api/generator/status/${task_id}`)).status).toBe('completed');
    const results = await json<{ weights: string; parameters: number; family: string }>(
      await fetch(`${server.url}/api/generator/results/${task_id}`),
    );
    expect(results).toMatchObject({ weights: 'random', family: 'encoder', task: 'feature-extraction' });
    const listed = await json<Array<{ id: string; parameters: number }>>(
      await fetch(`${server.url}/api/models`),
    );
    expect(results.parameters).toBe(
      listed.find((m) => m.id === 'google/electra-small-discriminator')!.parameters,
    );
  });

  it('builds the head a request names, with its logits output', async () => {
    const res = await post('/api/generator/model', {
      model_name: 'prajjwal1/bert-tiny',
      output_dir: `bert-tiny-tokens-${driver}`,
      task: 'token-classification',
    });
    expect(res.status).toBe(202);
    const { task_id } = await json<{ task_id: string }>(res);
    expect((await waitFor(`${server.url}/api/generator/status/${task_id}`)).status).toBe('completed');
    const results = await json<{
      task: string;
      manifest: { task: string; outputs: { name: string; shape: unknown[] }[] };
    }>(await fetch(`${server.url}/api/generator/results/${task_id}`));
    expect(results.task).toBe('token-classification');
    expect(results.manifest.task).toBe('token-classification');
    expect(results.manifest.outputs).toEqual([
      { name: 'logits', dtype: 'float32', shape: ['batch_size', 'sequence_length', 2] },
    ]);
  });

  it('lets the Test Suite take a registry id: generated on demand once, then cached', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await post('/api/test/run', {
        model_name: 'google/electra-small-discriminator',
        hardware: ['cpu'],
      });
      expect(res.status).toBe(202);
      const { run_id } = await json<{ run_id: string }>(res);
      expect((await waitFor(`${server.url}/api/test/status/${run_id}`)).status).toBe('completed');
      const results = await json<{ status: string }>(await fetch(`${server.url}/api/test/results/${run_id}`));
      expect(results.status).toBe('passed');
      ids.push(run_id);
    }
    const cached = readdirSync(join(server.dataDir, 'models', '.cache'));
    expect(cached.filter((d) => d.startsWith('google--electra-small-discriminator-'))).toHaveLength(1);
    const unknown = await post('/api/test/run', { model_name: 'acme/not-a-model' });
    expect(unknown.status).toBe(422);
    expect((await json(unknown)).message).toMatch(/registry/);
  });

  it('refuses what it cannot do with clear 4xx errors', async () => {
    const unknown = await post('/api/generator/model', { model_name: 'acme/not-a-model' });
    expect(unknown.status).toBe(422);
    expect((await json(unknown)).message).toMatch(/encoder|decoder|config\.json/);
    const escape = await post('/api/generator/model', { model_name: 'bert', output_dir: '../../etc' });
    expect(escape.status).toBe(400);
    const template = await post('/api/generator/model', {
      model_name: 'bert',
      template_type: 'no-such-template',
    });
    expect([400, 422]).toContain(template.status);
    const context = await post('/api/generator/model', {
      model_name: 'bert',
      template_context: { 'not a variable': 1 },
    });
    expect([400, 422]).toContain(context.status);
    const weights = await post('/api/generator/model', {
      model_name: 'bert-base-uncased',
      weights: 'safetensors',
    });
    expect(weights.status).toBe(422);
    const task = await post('/api/generator/model', { model_name: 'bert', task: 'image-classification' });
    expect(task.status).toBe(422);
    expect((await json(task)).message).toContain('fill-mask');
    const notATask = await post('/api/generator/model', { model_name: 'bert', task: 'summarize' });
    expect(notATask.status).toBe(400);
    const batch = await post('/api/generator/batch', {
      models: [{ model_name: 'bert', output_dir: 'b1' }, { model_name: 'acme/none' }],
    });
    expect(batch.status).toBe(422);
    expect(existsSync(`${server.dataDir}/models/b1`)).toBe(false);
  });

  it('generates a batch', async () => {
    const res = await post('/api/generator/batch', {
      models: [
        { model_name: 'llama', output_dir: `batch-llama-${driver}`, hardware: ['cpu'] },
        { model_name: 'vit', output_dir: `batch-vit-${driver}`, hardware: ['cpu'] },
      ],
    });
    expect(res.status).toBe(202);
    const { tasks } = await json<{ tasks: Array<{ task_id: string }> }>(res);
    expect(tasks).toHaveLength(2);
    for (const t of tasks)
      expect((await waitFor(`${server.url}/api/generator/status/${t.task_id}`)).status).toBe('completed');
  });
});
