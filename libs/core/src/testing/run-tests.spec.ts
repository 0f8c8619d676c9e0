import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY, HF_TINY_MODELS, TOKENIZER_FIXTURES } from '../../../../test/fixtures';
import { createBackends } from '../backends';
import { buildImplementation, TINY_T5_CONFIG } from '../generator/spec-build';
import { loadGeneratedImplementation } from '../generator/loader';
import { makeTensor } from '../models/inputs';
import { loadImplementation, loadResolvedModel } from '../models/load';
import { resolveModelPath } from '../models/paths';
import type { BackendName, ModelImplementation, ProgressReport, RunContext } from '../types';
import { SafetensorsFile, writeSafetensors } from '../util/safetensors';
import { runModelTests, shapeCases } from './run-tests';
import { tinyWordPiece } from './spec-fixtures';
import type { TestResults } from './types';

jest.setTimeout(60_000);

// One set of backends for the whole file: detection (a real WebGPU session) runs once.
const backends = createBackends(['cpu', 'webgpu', 'cuda']);

function context(reports: ProgressReport[] = []): RunContext {
  return { signal: new AbortController().signal, onProgress: (r) => reports.push(r) };
}

const find = (r: TestResults, backend: string, name: string) =>
  r.test_details.find((d) => d.backend === backend && d.name === name);

describe('runModelTests: comprehensive on the hf-tiny references (real inference, cpu + webgpu)', () => {
  it.each(HF_TINY_MODELS)('%s passes every check on cpu and webgpu, golden included', async (name) => {
    const resolved = resolveModelPath(name, [HF_TINY]);
    const model = await loadResolvedModel(resolved, name);
    const reports: ProgressReport[] = [];
    const r = await runModelTests(
      {
        modelName: name,
        model,
        goldenPath: resolved.goldenPath,
        hardware: ['cpu', 'webgpu'],
        testType: 'comprehensive',
      },
      { backends },
      context(reports),
    );
    const failed = r.test_details.filter((d) => d.status !== 'passed');
    expect(failed).toEqual([]);
    expect(r.status).toBe('passed');
    expect(r.summary.tests_failed).toBe(0);
    expect(r.summary.tests_passed).toBe(r.test_details.length);

    const shapes =
      name === 'vit'
        ? ['shape_b1', 'shape_b2', 'shape_b4']
        : ['shape_b1_s8', 'shape_b1_s32', 'shape_b2_s8', 'shape_b2_s32', 'shape_b4_s8', 'shape_b4_s32'];
    for (const backend of ['cpu', 'webgpu']) {
      const names = r.test_details.filter((d) => d.backend === backend).map((d) => d.name);
      expect(names).toEqual([
        'detect',
        'load',
        'inference',
        'output_signature',
        'finite_outputs',
        ...shapes,
        'determinism',
        ...(backend === 'webgpu' ? ['agreement_with_cpu'] : []),
        'golden_io',
        'latency',
      ]);
      const golden = find(r, backend, 'golden_io')!;
      expect(golden.metrics!.tolerance).toBe(backend === 'cpu' ? 1e-4 : 1e-3);
      expect(golden.metrics!.max_abs_error as number).toBeLessThanOrEqual(
        golden.metrics!.tolerance as number,
      );
      expect(Object.keys(golden.metrics!.per_output as object).length).toBeGreaterThan(0);
      const perf = r.performance_metrics[backend as 'cpu']!;
      expect(perf.latency_ms).toBeGreaterThan(0);
      expect(perf.throughput_items_per_sec).toBeGreaterThan(0);
      expect(perf.memory_mb).toBeGreaterThan(10);
      expect(find(r, backend, 'latency')!.metrics!.runs).toBeGreaterThanOrEqual(20);
    }
    expect(find(r, 'cpu', 'determinism')!.metrics!.bitwise_equal).toBe(true);
    const agree = find(r, 'webgpu', 'agreement_with_cpu')!;
    expect(agree.metrics!.max_abs_error as number).toBeLessThanOrEqual(1e-3);
    expect(agree.metrics!.max_rel_error).toEqual(expect.any(Number));
    // progress: monotone, 0..1, with backend-prefixed steps
    const values = reports.map((p) => p.progress);
    expect(values.every((v, i) => v >= 0 && v <= 1 && (i === 0 || v >= values[i - 1]!))).toBe(true);
    expect(reports.at(-1)).toMatchObject({ progress: 1, step: 'done' });
    expect(reports.some((p) => p.step === 'webgpu: golden_io')).toBe(true);
    expect(r.started_at <= r.completed_at).toBe(true);
    expect(r.duration_s).toBeGreaterThan(0);
  });

  it('fails the golden check when the reference outputs are off by 1e-3', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'golden-'));
    const src = SafetensorsFile.open(join(HF_TINY, 'distilbert/io.safetensors'));
    const tensors: Parameters<typeof writeSafetensors>[1] = {};
    for (const n of src.names()) {
      const e = src.get(n);
      if (e.dtype === 'I64') tensors[n] = { dtype: 'I64', shape: e.shape, data: src.int64(n) };
      else {
        const data = src.float32(n);
        if (n.startsWith('output.')) data[5] += 1e-3;
        tensors[n] = { dtype: 'F32', shape: e.shape, data };
      }
    }
    src.close();
    writeSafetensors(join(dir, 'io.safetensors'), tensors);
    const model = await loadImplementation({
      kind: 'onnx-file',
      path: join(HF_TINY, 'distilbert/torch_export.onnx'),
    });
    const r = await runModelTests(
      {
        modelName: 'distilbert',
        model,
        goldenPath: join(dir, 'io.safetensors'),
        hardware: ['cpu'],
        testType: 'comprehensive',
        batchSizes: [1],
        sequenceLengths: [8],
      },
      { backends },
      context(),
    );
    expect(r.status).toBe('failed');
    const golden = find(r, 'cpu', 'golden_io')!;
    expect(golden.status).toBe('failed');
    expect(golden.message).toMatch(/last_hidden_state: max abs error 0\.00\d+ > 0\.0001/);
    expect(r.summary.tests_failed).toBe(1);
    expect(r.test_details.filter((d) => d.name.startsWith('shape_')).map((d) => d.name)).toEqual([
      'shape_b1_s8',
    ]);
  });
});

describe('runModelTests: backends that are not there', () => {
  it('skips every check of an unavailable backend with the reason, and still runs the others', async () => {
    const model = await loadImplementation({
      kind: 'onnx-file',
      path: join(HF_TINY, 'gpt2/torch_export.onnx'),
    });
    const r = await runModelTests(
      { modelName: 'gpt2', model, hardware: ['cuda', 'cpu'], testType: 'basic' },
      { backends },
      context(),
    );
    const cuda = r.test_details.filter((d) => d.backend === 'cuda');
    expect(cuda.map((d) => d.name)).toEqual([
      'detect',
      'load',
      'inference',
      'output_signature',
      'finite_outputs',
      'latency',
    ]);
    expect(cuda.every((d) => d.status === 'skipped')).toBe(true);
    expect(cuda[0]!.message).toContain('libonnxruntime_providers_cuda.so');
    expect(cuda[1]!.message).toMatch(/^cuda unavailable: .*ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(r.test_details.filter((d) => d.backend === 'cpu').every((d) => d.status === 'passed')).toBe(true);
    expect(r.status).toBe('passed');
    expect(r.summary).toEqual({ tests_passed: 6, tests_failed: 0, tests_skipped: 6 });
    expect(Object.keys(r.performance_metrics)).toEqual(['cpu']);
    expect(r.hardware).toEqual(['cuda', 'cpu']);

    const none = await runModelTests(
      { modelName: 'gpt2', model, hardware: ['webgpu'], testType: 'basic' },
      { backends: createBackends(['cpu']) },
      context(),
    );
    expect(none.status).toBe('failed');
    expect(none.summary.tests_passed).toBe(0);
    expect(
      none.test_details.every(
        (d) => d.status === 'skipped' && /no webgpu backend is configured/.test(d.message!),
      ),
    ).toBe(true);
  });
});

describe('runModelTests: tokenization hook', () => {
  it('checks that encoded ids sit inside the vocabulary and run, and fails when they do not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    copyFileSync(join(HF_TINY, 'bert/torch_export.onnx'), join(dir, 'model.onnx'));
    copyFileSync(join(HF_TINY, 'bert/config.json'), join(dir, 'config.json'));
    writeFileSync(
      join(dir, 'tokenizer.json'),
      JSON.stringify(tinyWordPiece(['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', '.'])),
    );
    const good = await loadResolvedModel(resolveModelPath(dir, [dir]));
    const r = await runModelTests(
      { modelName: 'bert-tok', model: good, hardware: ['cpu'], testType: 'basic' },
      { backends },
      context(),
    );
    const tok = find(r, 'cpu', 'tokenization')!;
    expect(tok.status).toBe('passed');
    expect(tok.metrics!.ids).toEqual([2, 4, 5, 6, 7, 8, 9, 4, 10, 11, 12, 3]);
    expect(r.status).toBe('passed');

    // The real WordPiece fixture has a larger vocabulary than this tiny BERT (99): the check must catch it.
    copyFileSync(join(TOKENIZER_FIXTURES, 'wordpiece.tokenizer.json'), join(dir, 'tokenizer.json'));
    const bad = await loadResolvedModel(resolveModelPath(dir, [dir]));
    const r2 = await runModelTests(
      { modelName: 'bert-tok', model: bad, hardware: ['cpu'], testType: 'basic' },
      { backends },
      context(),
    );
    const tok2 = find(r2, 'cpu', 'tokenization')!;
    expect(tok2.status).toBe('failed');
    expect(tok2.message).toMatch(/ids outside the vocabulary \[0, 99\)/);
    expect(r2.status).toBe('failed');
  });
});

describe('shapeCases', () => {
  it('covers batch x sequence where the axes exist and honours overrides and max positions', () => {
    const text = [{ name: 'input_ids', dtype: 'int64' as const, shape: ['b', 's'] }];
    expect(shapeCases(text, {}).map((c) => c.name)).toEqual([
      'shape_b1_s8',
      'shape_b1_s32',
      'shape_b2_s8',
      'shape_b2_s32',
      'shape_b4_s8',
      'shape_b4_s32',
    ]);
    expect(shapeCases(text, { batchSizes: [3], sequenceLengths: [5, 100] }, 64)).toEqual([
      { name: 'shape_b3_s5', batchSize: 3, sequenceLength: 5 },
      {
        name: 'shape_b3_s100',
        batchSize: 3,
        sequenceLength: 100,
        skip: "sequence length 100 exceeds the model's 64 positions",
      },
    ]);
    expect(shapeCases([{ name: 'x', dtype: 'float32', shape: [1, 3] }], {}).map((c) => c.name)).toEqual([
      'shape_b1',
    ]);
  });
});

describe('runModelTests: generative checks on generated causal LMs (KV-cache graphs)', () => {
  const root = mkdtempSync(join(tmpdir(), 'tests-generative-'));

  /** An hf-tiny fixture with its weights, or `random` (a config) with seeded random weights. */
  async function generated(
    name: string,
    random?: Record<string, unknown>,
    backends: BackendName[] = ['cpu', 'webgpu'],
  ): Promise<{ model: ModelImplementation; golden: string }> {
    const dir = join(root, `${name}-${backends.join('-')}`);
    const { built, generated: result } = await buildImplementation(dir, name, { config: random, backends });
    expect(built.kvCache).toBe(true);
    return {
      model: loadGeneratedImplementation(result.jsPath),
      golden: join(HF_TINY, name, 'io.safetensors'),
    };
  }

  it.each(['gpt2', 'llama'])(
    '%s: cache consistency, padding and determinism pass on cpu and webgpu, golden included',
    async (name) => {
      const { model, golden } = await generated(name);
      const r = await runModelTests(
        {
          modelName: name,
          model,
          goldenPath: golden,
          hardware: ['cpu', 'webgpu'],
          testType: 'comprehensive',
        },
        { backends },
        context(),
      );
      expect(r.test_details.filter((d) => d.status !== 'passed')).toEqual([]);
      for (const backend of ['cpu', 'webgpu']) {
        for (const check of [
          'cache_consistency',
          'generation_padding',
          'generation_determinism',
          'golden_io',
        ]) {
          expect(find(r, backend, check)?.status).toBe('passed');
        }
      }
      const cache = find(r, 'cpu', 'cache_consistency')!.metrics as {
        max_abs_error: number;
        tolerance: number;
      };
      expect(cache.tolerance).toBe(1e-4);
      expect(cache.max_abs_error).toBeLessThanOrEqual(1e-4);
    },
  );

  it('T5 (random weights, KV cache): cache consistency, padding and determinism pass on cpu', async () => {
    const { model } = await generated('t5', { ...TINY_T5_CONFIG });
    const r = await runModelTests(
      { modelName: 't5', model, hardware: ['cpu'], testType: 'comprehensive' },
      { backends },
      context(),
    );
    expect(r.test_details.filter((d) => d.status !== 'passed')).toEqual([]);
    for (const check of ['cache_consistency', 'generation_padding', 'generation_determinism']) {
      expect(find(r, 'cpu', check)?.status).toBe('passed');
    }
  });

  it('skips, with the reason, a backend the implementation was not generated for', async () => {
    const { model } = await generated('gpt2', undefined, ['cpu']);
    expect(model.supportedBackends).toEqual(['cpu']);
    const r = await runModelTests(
      { modelName: 'gpt2', model, hardware: ['cpu', 'webgpu'], testType: 'basic' },
      { backends },
      context(),
    );
    expect(r.status).toBe('passed');
    expect(find(r, 'webgpu', 'load')).toMatchObject({
      status: 'skipped',
      message: expect.stringMatching(/generated for cpu only/),
    });
  });

  it('cache_consistency fails when the implementation drops its cache', async () => {
    const { model } = await generated('gpt2');
    // A real handle whose run() forgets the past (feeds an empty one): decoding no longer sees the prompt.
    const forgetful: ModelImplementation = {
      metadata: model.metadata,
      makeInputs: (o) => model.makeInputs(o),
      async load(options) {
        const h = await model.load(options);
        const empty = model.makeInputs({ batchSize: 1, sequenceLength: 1 });
        return {
          ...h,
          backend: h.backend,
          release: () => h.release(),
          run: (feeds) => {
            const dropped = { ...feeds };
            for (const k of Object.keys(feeds)) if (k.startsWith('past_key_values.')) dropped[k] = empty[k]!;
            const mask = feeds.attention_mask!;
            const width = feeds.input_ids!.dims[1]!;
            dropped.attention_mask = makeTensor('int64', [mask.dims[0]!, width], () => 1);
            return h.run(dropped);
          },
        };
      },
    };
    const r = await runModelTests(
      { modelName: 'forgetful', model: forgetful, hardware: ['cpu'], testType: 'comprehensive' },
      { backends },
      context(),
    );
    const check = find(r, 'cpu', 'cache_consistency')!;
    expect(check.status).toBe('failed');
    expect(check.message).toMatch(/cached decoding differs from the full pass/);
    expect(r.status).toBe('failed');
  });
});
