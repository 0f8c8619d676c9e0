/**
 * The benchmark's generate mode on a real generated language model (the hf-tiny GPT-2 with a KV
 * cache): TTFT, TPOT, end-to-end and tokens/s per configuration, and a clear failure for a model that
 * does not generate.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY, REPO_ROOT } from '../../../../test/fixtures';
import { createBackends } from '../backends';
import { buildImplementation } from '../generator/spec-build';
import { loadImplementation } from '../models/load';
import { DEFAULT_MAX_NEW_TOKENS, METRIC_DEFINITIONS, resolveSettings, runBenchmark } from './runner';
import type { BenchmarkModelRef, BenchmarkRequest } from './types';

jest.setTimeout(120_000);

const root = mkdtempSync(join(tmpdir(), 'bench-generate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let gpt2: BenchmarkModelRef;

beforeAll(async () => {
  const { generated } = await buildImplementation(join(root, 'gpt2'), 'gpt2');
  gpt2 = { name: 'gpt2', kind: 'module', path: generated.jsPath };
});

function request(over: Partial<BenchmarkRequest> = {}): BenchmarkRequest {
  return {
    models: [gpt2],
    hardware: ['cpu'],
    batch_sizes: [1, 2],
    sequence_lengths: [5],
    precision: 'fp32',
    warmup: { min_iterations: 1, max_iterations: 2, steady_cv: 1 },
    min_iterations: 4,
    min_duration_s: 0,
    rounds: 2,
    seed: 3,
    mode: 'generate',
    max_new_tokens: 6,
    ...over,
  };
}

const deps = {
  loadModel: (ref: BenchmarkModelRef) => loadImplementation({ kind: ref.kind, path: ref.path }),
  backends: createBackends(['cpu'], { intraOpNumThreads: 1 }),
  repoDir: REPO_ROOT,
};

describe('benchmark generate mode', () => {
  it('measures TTFT, TPOT, end-to-end and tokens/s per configuration', async () => {
    const result = await runBenchmark(request(), deps);
    expect(result.settings).toMatchObject({ mode: 'generate', max_new_tokens: 6 });
    expect(result.configurations).toHaveLength(2);
    for (const c of result.configurations) {
      expect(c.status).toBe('ok');
      const g = c.generation!;
      const iterations = c.stats!.count;
      expect(iterations).toBeGreaterThanOrEqual(4);
      expect(g).toMatchObject({ max_new_tokens: 6, prompt_length: 5 });
      // One TTFT per measured generation, five later steps each.
      expect(g.ttft_ms.count).toBe(iterations);
      expect(g.tpot_ms.count).toBe(iterations * 5);
      expect(g.e2e_ms).toEqual(c.stats);
      // A generation is its first token plus its later steps (plus the loop's own work).
      expect(g.e2e_ms.mean).toBeGreaterThanOrEqual(g.ttft_ms.mean + 5 * g.tpot_ms.mean - 1e-6);
      expect(g.tokens_per_s.decode).toBeCloseTo((c.batch_size * 1000) / g.tpot_ms.mean, 6);
      expect(g.tokens_per_s.total).toBeCloseTo((c.batch_size * 6 * 1000) / g.e2e_ms.mean, 6);
      expect(c.per_token_ms).toHaveLength(6);
      expect(c.per_token_ms![0]).toBeCloseTo(g.ttft_ms.mean, 6);
    }
    for (const key of [
      'mode',
      'generation.ttft_ms',
      'generation.tpot_ms',
      'generation.tokens_per_s.decode',
    ]) {
      expect(result.definitions[key]).toBe(METRIC_DEFINITIONS[key]);
    }
  });

  it('fails the configurations of a model that does not generate, with the reason', async () => {
    const bert: BenchmarkModelRef = {
      name: 'bert',
      kind: 'onnx-file',
      path: join(HF_TINY, 'bert/torch_export.onnx'),
    };
    const result = await runBenchmark(request({ models: [bert], batch_sizes: [1] }), deps);
    expect(result.configurations[0]).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/does not generate/),
    });
  });

  it('fails a configuration whose prompt + new tokens exceed the context, naming it', async () => {
    const result = await runBenchmark(
      request({ sequence_lengths: [60], batch_sizes: [1], max_new_tokens: 10 }),
      deps,
    );
    expect(result.configurations[0]).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/exceeds the model's context of 64/),
    });
  });

  it('resolves the mode and its token count', () => {
    const base = { ...request(), models: [] };
    expect(resolveSettings({ ...base, mode: undefined, max_new_tokens: undefined })).toMatchObject({
      mode: 'latency',
      max_new_tokens: null,
    });
    expect(resolveSettings({ ...base, max_new_tokens: undefined })).toMatchObject({
      max_new_tokens: DEFAULT_MAX_NEW_TOKENS,
    });
    expect(() => resolveSettings({ ...base, max_new_tokens: 0 })).toThrow(/max_new_tokens/);
    expect(() => resolveSettings({ ...base, mode: 'speed' as never })).toThrow(/mode must be/);
  });
});
