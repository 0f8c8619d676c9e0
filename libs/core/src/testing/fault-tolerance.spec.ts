import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { createBackends } from '../backends';
import { CancelledError } from '../errors';
import { loadImplementation } from '../models/load';
import type { ModelImplementation, RunContext } from '../types';
import { runModelTests } from './run-tests';

jest.setTimeout(60_000);

const backends = createBackends(['cpu', 'webgpu']);
const ctx = (): RunContext => ({ signal: new AbortController().signal, onProgress: () => undefined });

/** A real implementation that counts open sessions (delegates everything to the generic one). */
function counting(inner: ModelImplementation) {
  const state = { loads: 0, releases: 0 };
  const impl: ModelImplementation = {
    metadata: inner.metadata,
    makeInputs: (o) => inner.makeInputs(o),
    async load(o) {
      const h = await inner.load(o);
      state.loads++;
      let released = false;
      return {
        backend: h.backend,
        run: (f) => h.run(f),
        release: async () => {
          if (!released) state.releases++;
          released = true;
          await h.release();
        },
      };
    },
  };
  return { impl, state };
}

describe('runModelTests: fault_tolerance (real inference)', () => {
  it('captures every fault cleanly on cpu and webgpu and the session recovers each time', async () => {
    const model = await loadImplementation({
      kind: 'onnx-file',
      path: join(HF_TINY, 'bert/torch_export.onnx'),
    });
    const { impl, state } = counting(model);
    const tmp = mkdtempSync(join(tmpdir(), 'fault-'));
    const r = await runModelTests(
      {
        modelName: 'bert',
        model: impl,
        hardware: ['cpu', 'webgpu'],
        testType: 'fault_tolerance',
        tmpDir: tmp,
      },
      { backends },
      ctx(),
    );
    expect(r.test_details.filter((d) => d.status !== 'passed')).toEqual([]);
    expect(r.status).toBe('passed');
    for (const backend of ['cpu', 'webgpu']) {
      const faults = r.test_details.filter((d) => d.backend === backend && d.name.startsWith('fault_'));
      expect(faults.map((d) => d.name)).toEqual([
        'fault_missing_input',
        'fault_wrong_dtype',
        'fault_wrong_rank',
        'fault_ids_out_of_range',
        'fault_empty_batch',
        'fault_truncated_model',
        'fault_cancelled_run',
      ]);
      for (const f of faults)
        expect(f.metrics!.recovery_max_abs_error).toBeLessThanOrEqual(backend === 'cpu' ? 0 : 1e-3);
    }
    const get = (b: string, n: string) => r.test_details.find((d) => d.backend === b && d.name === n)!;
    expect(get('cpu', 'fault_missing_input').message).toMatch(/captured: .*input_ids.*missing/);
    expect(get('cpu', 'fault_wrong_dtype').message).toMatch(/captured: .*data type/);
    expect(get('cpu', 'fault_wrong_rank').message).toMatch(/captured: .*rank/i);
    // CPU bounds-checks Gather; WebGPU may return normally: either way the detail says which.
    expect(get('cpu', 'fault_ids_out_of_range').metrics!.error_captured).toBe(true);
    expect(get('cpu', 'fault_ids_out_of_range').message).toMatch(/Gather.*out of/);
    const gpuIds = get('webgpu', 'fault_ids_out_of_range');
    expect(gpuIds.message).toMatch(
      gpuIds.metrics!.error_captured ? /^captured: / : /^no error: webgpu returned normally/,
    );
    expect(get('cpu', 'fault_truncated_model').message).toMatch(/captured: .*(Protobuf|failed)/);
    expect(get('cpu', 'fault_cancelled_run').metrics!.runs_completed as number).toBeLessThan(200);
    expect(readdirSync(tmp)).toEqual([]);
    expect(state.loads).toBe(2);
    expect(state.releases).toBe(2);
  });

  it('fails a fault check when the implementation hides the fault', async () => {
    const model = await loadImplementation({
      kind: 'onnx-file',
      path: join(HF_TINY, 'distilbert/torch_export.onnx'),
    });
    // A lenient implementation: it fills in missing inputs instead of raising.
    const lenient: ModelImplementation = {
      metadata: model.metadata,
      makeInputs: (o) => model.makeInputs(o),
      async load(o) {
        const h = await model.load(o);
        return {
          backend: h.backend,
          release: () => h.release(),
          run: (feeds) => {
            const ids = feeds.attention_mask ?? feeds.input_ids;
            const full = ids
              ? model.makeInputs({ batchSize: ids.dims[0]!, sequenceLength: ids.dims[1] })
              : {};
            return h.run({ ...full, ...feeds });
          },
        };
      },
    };
    const r = await runModelTests(
      { modelName: 'distilbert', model: lenient, hardware: ['cpu'], testType: 'fault_tolerance' },
      { backends },
      ctx(),
    );
    const missing = r.test_details.find((d) => d.name === 'fault_missing_input')!;
    expect(missing.status).toBe('failed');
    expect(missing.message).toBe('expected an error, but the call returned normally');
    expect(r.status).toBe('failed');
  });
});

describe('runModelTests: cancellation', () => {
  it.each(['cpu', 'webgpu'] as const)(
    'stops a long %s loop at the abort, releases its session and rejects with CancelledError',
    async (backend) => {
      const model = await loadImplementation({
        kind: 'onnx-file',
        path: join(HF_TINY, 'gpt2/torch_export.onnx'),
      });
      const { impl, state } = counting(model);
      const controller = new AbortController();
      let abortedAt = 0;
      const steps: string[] = [];
      const run = runModelTests(
        { modelName: 'gpt2', model: impl, hardware: [backend], testType: 'basic', latencyRuns: 10_000_000 },
        { backends },
        {
          signal: controller.signal,
          onProgress: (p) => {
            steps.push(p.step);
            if (p.step === `${backend}: latency` && !abortedAt)
              setTimeout(() => {
                abortedAt = performance.now();
                controller.abort();
              }, 300);
          },
        },
      );
      // 10,000,000 latency runs: only the abort ends the loop within the spec's time limit.
      const err = await run.catch((e: unknown) => e);
      expect(abortedAt).toBeGreaterThan(0);
      expect(err).toBeInstanceOf(CancelledError);
      expect(state).toEqual({ loads: 1, releases: 1 });
      expect(steps).not.toContain('done');
    },
  );

  it('refuses to start when the signal has already fired', async () => {
    const model = await loadImplementation({
      kind: 'onnx-file',
      path: join(HF_TINY, 'gpt2/torch_export.onnx'),
    });
    const pre = new AbortController();
    pre.abort();
    await expect(
      runModelTests(
        { modelName: 'gpt2', model, hardware: ['cpu'], testType: 'basic' },
        { backends },
        { signal: pre.signal, onProgress: () => undefined },
      ),
    ).rejects.toBeInstanceOf(CancelledError);
  });
});
