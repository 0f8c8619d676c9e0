import { join } from 'node:path';
import { HF_TINY, REPO_ROOT } from '../../../../test/fixtures';
import { CancelledError, CoreError } from '../errors';
import type { ProgressReport } from '../types';
import { runBenchmarkIsolated } from './isolated';
import type { BenchmarkProgressData, BenchmarkRequest } from './types';

const request = (over: Partial<BenchmarkRequest> = {}): BenchmarkRequest => ({
  models: [{ name: 'distilbert', kind: 'onnx-file', path: join(HF_TINY, 'distilbert/torch_export.onnx') }],
  hardware: ['cpu'],
  batch_sizes: [1],
  sequence_lengths: [8],
  precision: 'fp32',
  warmup: { min_iterations: 2, max_iterations: 20, steady_cv: 0.5 },
  min_iterations: 10,
  min_duration_s: 0.2,
  seed: 1,
  ...over,
});

describe('runBenchmarkIsolated (worker thread)', () => {
  it('runs a short benchmark in a worker and forwards its progress', async () => {
    const reports: ProgressReport[] = [];
    const result = await runBenchmarkIsolated(request(), {
      onProgress: (r) => reports.push(r),
      repoDir: REPO_ROOT,
      backendOptions: { intraOpNumThreads: 1 },
    });
    expect(result.configurations).toHaveLength(1);
    const c = result.configurations[0];
    expect(c).toMatchObject({
      status: 'ok',
      model: 'distilbert',
      backend: 'cpu',
      batch_size: 1,
      sequence_length: 8,
    });
    expect(c.stats!.count).toBeGreaterThanOrEqual(10);
    expect(c.latencies_ms).toHaveLength(c.stats!.count);
    expect(result.environment.git_commit).toMatch(/^[0-9a-f]{40}$/);
    expect(reports.length).toBeGreaterThan(0);
    const phases = new Set(reports.map((r) => (r.data as BenchmarkProgressData).phase));
    expect(phases.has('done')).toBe(true);
    expect(reports[reports.length - 1].progress).toBe(1);
  }, 60_000);

  it('carries the worker error code back (validation)', async () => {
    const run = runBenchmarkIsolated(request({ batch_sizes: [-1] }));
    await expect(run).rejects.toBeInstanceOf(CoreError);
    await expect(run).rejects.toMatchObject({ code: 'VALIDATION' });
  }, 60_000);

  it('cancels a long run mid-measurement', async () => {
    const controller = new AbortController();
    let measuring = 0;
    // An hour of measurement: only the abort can end it within the spec's time limit. (How fast a
    // cancel lands is a speed target, not a spec assertion.)
    const run = runBenchmarkIsolated(request({ min_duration_s: 3600, max_duration_s: 7200 }), {
      signal: controller.signal,
      onProgress: (r) => {
        if ((r.data as BenchmarkProgressData).phase === 'measure' && ++measuring === 2) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(measuring).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('rejects at once when the signal has already fired', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(runBenchmarkIsolated(request(), { signal: controller.signal })).rejects.toBeInstanceOf(
      CancelledError,
    );
  });
});
