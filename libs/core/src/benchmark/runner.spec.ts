import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { HF_TINY, REPO_ROOT, TOKENIZER_FIXTURES } from '../../../../test/fixtures';
import { createBackends } from '../backends';
import { CancelledError, CoreError } from '../errors';
import { loadImplementation } from '../models/load';
import type { HardwareBackend, ProgressReport } from '../types';
import { readGitCommit } from './environment';
import { type BenchmarkDeps, runBenchmark } from './runner';
import { summarize } from './stats';
import type {
  BenchmarkModelRef,
  BenchmarkProgressData,
  BenchmarkRequest,
  ConfigurationResult,
} from './types';

const BERT: BenchmarkModelRef = {
  name: 'bert',
  kind: 'onnx-file',
  path: join(HF_TINY, 'bert/torch_export.onnx'),
};
const VIT: BenchmarkModelRef = {
  name: 'vit',
  kind: 'onnx-file',
  path: join(HF_TINY, 'vit/torch_export.onnx'),
};

function deps(names: BenchmarkRequest['hardware']): BenchmarkDeps {
  return {
    loadModel: (ref) => loadImplementation({ kind: ref.kind, path: ref.path }),
    backends: createBackends(names, { intraOpNumThreads: 1 }),
    repoDir: REPO_ROOT,
  };
}

function request(over: Partial<BenchmarkRequest> = {}): BenchmarkRequest {
  return {
    models: [BERT],
    hardware: ['cpu'],
    batch_sizes: [1],
    sequence_lengths: [8],
    precision: 'fp32',
    warmup: { min_iterations: 2, max_iterations: 40, steady_cv: 0.5 },
    min_iterations: 10,
    min_duration_s: 0.2,
    seed: 7,
    ...over,
  };
}

function checkOk(c: ConfigurationResult, minIterations: number, minDurationS: number): void {
  expect(c.status).toBe('ok');
  expect(c.reason).toBeUndefined();
  const s = c.stats!;
  // Counts: both stopping conditions met (max_duration_s defaults far above what these take).
  expect(s.count).toBe(c.latencies_ms.length);
  expect(s.count).toBeGreaterThanOrEqual(minIterations);
  expect(c.measure_duration_s!).toBeGreaterThanOrEqual(minDurationS);
  expect(c.latencies_ms.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
  // The stats are the stats of the raw latencies.
  expect(s).toEqual(summarize(c.latencies_ms));
  // Monotone percentiles, CI containing the median at the right ranks.
  expect(s.min).toBeLessThanOrEqual(s.p50);
  expect(s.p50).toBeLessThanOrEqual(s.p90);
  expect(s.p90).toBeLessThanOrEqual(s.p95);
  expect(s.p95).toBeLessThanOrEqual(s.p99);
  expect(s.p99).toBeLessThanOrEqual(s.max);
  expect(s.median_ci95.lower).toBeLessThanOrEqual(s.p50);
  expect(s.median_ci95.upper).toBeGreaterThanOrEqual(s.p50);
  const sorted = [...c.latencies_ms].sort((a, b) => a - b);
  expect(s.median_ci95.lower).toBe(sorted[s.median_ci95.lower_rank - 1]);
  expect(s.median_ci95.upper).toBe(sorted[s.median_ci95.upper_rank - 1]);
  // Throughput: median-based is batch / median; wall-based counts the gaps between runs too, so it is
  // at most batch * count / (time inside run).
  expect(c.throughput_items_per_sec).toBeCloseTo(c.batch_size / (s.p50 / 1000), 6);
  expect(c.throughput_wall_items_per_sec!).toBeCloseTo((c.batch_size * s.count) / c.measure_duration_s!, 6);
  expect(c.throughput_wall_items_per_sec!).toBeLessThanOrEqual(
    (c.batch_size * s.count) / (s.total / 1000) + 1e-9,
  );
  expect(c.measure_duration_s! * 1000).toBeGreaterThanOrEqual(s.total);
  // Session and memory figures.
  expect(c.load_ms!).toBeGreaterThan(0);
  expect(c.first_inference_ms!).toBeGreaterThan(0);
  expect(c.warmup_iterations).toBeGreaterThanOrEqual(2);
  expect(c.warmup_iterations).toBeLessThanOrEqual(40);
  if (c.warmup_steady) expect(c.warmup_cv!).toBeLessThanOrEqual(0.5);
  else expect(c.warmup_iterations).toBe(40);
  expect(c.peak_rss_mb!).toBeGreaterThan(0);
  expect(Number.isFinite(c.rss_growth_mb)).toBe(true);
  expect(c.execution_provider).toBe('CPUExecutionProvider');
}

describe('runBenchmark (in process, real hf-tiny ONNX models)', () => {
  it('measures every configuration, drops the sequence axis for vit, and reports progress', async () => {
    const reports: ProgressReport[] = [];
    const result = await runBenchmark(
      request({ models: [BERT, VIT], batch_sizes: [1, 2], sequence_lengths: [8, 16] }),
      deps(['cpu']),
      { onProgress: (r) => reports.push(r) },
    );
    const labels = result.configurations.map((c) => c.label);
    // bert: 2 batches x 2 sequence lengths; vit: 2 batches, no sequence axis.
    expect(labels).toEqual([
      'bert/cpu/b1/s8',
      'bert/cpu/b1/s16',
      'bert/cpu/b2/s8',
      'bert/cpu/b2/s16',
      'vit/cpu/b1',
      'vit/cpu/b2',
    ]);
    expect(result.configurations.filter((c) => c.model === 'vit').map((c) => c.sequence_length)).toEqual([
      null,
      null,
    ]);
    for (const c of result.configurations) checkOk(c, 10, 0.2);

    const env = result.environment;
    expect(env.onnxruntime_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(env.node_version).toBe(process.version);
    expect(env.cpu_cores).toBeGreaterThan(0);
    expect(env.total_memory_mb).toBeGreaterThan(0);
    expect(env.backends.cpu).toMatchObject({ available: true, execution_provider: 'CPUExecutionProvider' });
    expect(env.git_commit).toBe(
      execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT }).toString().trim(),
    );
    expect(Object.keys(result.definitions)).toEqual(
      expect.arrayContaining(['load_ms', 'first_inference_ms', 'latencies_ms', 'throughput_items_per_sec']),
    );
    expect(result.settings).toMatchObject({
      min_iterations: 10,
      min_duration_s: 0.2,
      seed: 7,
      precision: 'fp32',
    });
    expect(Date.parse(result.completed_at)).toBeGreaterThanOrEqual(Date.parse(result.started_at));
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);

    // Progress: index/total, label, iterations and running median; fraction never goes back; ends at 1.
    expect(reports.length).toBeGreaterThan(6);
    const fractions = reports.map((r) => r.progress);
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]).toBeGreaterThanOrEqual(fractions[i - 1]);
    expect(fractions[fractions.length - 1]).toBe(1);
    const data = reports.map((r) => r.data as BenchmarkProgressData);
    expect(data.every((d) => d.configuration_total === 6)).toBe(true);
    expect(new Set(data.map((d) => d.label))).toEqual(new Set(labels));
    const measuring = data.filter((d) => d.phase === 'measure' && d.iterations > 0);
    expect(measuring.length).toBeGreaterThan(0);
    expect(measuring.every((d) => d.running_median_ms !== null && d.running_median_ms > 0)).toBe(true);
  }, 60_000);

  it('measures in rounds interleaved across configurations (ABBA), sharing out the iterations', async () => {
    const reports: ProgressReport[] = [];
    const result = await runBenchmark(
      request({
        models: [BERT, { ...BERT, name: 'bert-b' }],
        min_iterations: 7,
        max_iterations: 7,
        min_duration_s: 0,
        rounds: 3,
        round_warmup_iterations: 1,
      }),
      deps(['cpu']),
      { onProgress: (r) => reports.push(r) },
    );
    expect(result.settings).toMatchObject({ rounds: 3, round_warmup_iterations: 1 });
    for (const c of result.configurations) {
      expect(c.status).toBe('ok');
      // 7 iterations over 3 rounds: 3, 2, 2; they partition latencies_ms in order.
      expect(c.rounds.map((r) => [r.round, r.count])).toEqual([[0, 3], [1, 2], [2, 2]]); // prettier-ignore
      let at = 0;
      for (const r of c.rounds) {
        const part = c.latencies_ms.slice(at, at + r.count);
        at += r.count;
        expect(r.median_ms).toBe(summarize(part).p50);
        expect(r.min_ms).toBe(Math.min(...part));
      }
      expect(c.round_medians_ms).toEqual(c.rounds.map((r) => r.median_ms));
      expect(c.noise_cv).toBeGreaterThanOrEqual(0);
      // One session per model and backend (here one each): its load time on its configurations.
      expect(c.load_ms!).toBeGreaterThan(0);
    }
    // Order of measurement: forward in even rounds, backward in odd ones.
    const order: string[] = [];
    for (const r of reports) {
      const d = r.data as BenchmarkProgressData;
      if (d.phase !== 'measure' || d.round === null) continue;
      const key = `r${d.round}:c${d.configuration_index}`;
      if (order[order.length - 1] !== key) order.push(key);
    }
    expect(order).toEqual(['r0:c0', 'r0:c1', 'r1:c1', 'r1:c0', 'r2:c0', 'r2:c1']);
    // Two models side by side: their paired ratio.
    expect(result.paired).toEqual([
      expect.objectContaining({
        baseline_label: 'bert/cpu/b1/s8',
        candidate_label: 'bert-b/cpu/b1/s8',
        rounds: 3,
      }),
    ]);
    // A fresh session per round: the same rounds, one load per round.
    let loads = 0;
    const counting = deps(['cpu']);
    const reloaded = await runBenchmark(
      request({ min_iterations: 3, min_duration_s: 0, rounds: 3, reload_each_round: true }),
      {
        ...counting,
        loadModel: async (ref) => {
          const impl = await counting.loadModel(ref);
          return {
            metadata: impl.metadata,
            makeInputs: (o) => impl.makeInputs(o),
            load: (o) => (loads++, impl.load(o)),
          };
        },
      },
    );
    expect(reloaded.settings.reload_each_round).toBe(true);
    expect(reloaded.configurations[0].rounds).toHaveLength(3);
    expect(loads).toBe(3);
    // Never more rounds than iterations allowed.
    const few = await runBenchmark(
      request({ min_iterations: 2, max_iterations: 2, min_duration_s: 0, rounds: 10 }),
      deps(['cpu']),
    );
    expect(few.settings.rounds).toBe(2);
    expect(few.configurations[0].rounds.map((r) => r.count)).toEqual([1, 1]);
  });

  it('skips a backend whose detection fails, with its reason, and fails a model that cannot load', async () => {
    const d = deps(['cpu', 'webgpu']);
    const webgpu = await (d.backends as ReadonlyMap<string, HardwareBackend>).get('webgpu')!.detect();
    const missing: BenchmarkModelRef = {
      name: 'missing',
      kind: 'onnx-file',
      path: join(HF_TINY, 'nope.onnx'),
    };
    const result = await runBenchmark(
      request({ models: [missing, BERT], hardware: ['cpu', 'webgpu'], min_duration_s: 0, min_iterations: 3 }),
      d,
    );
    const byLabel = new Map(result.configurations.map((c) => [c.label, c]));
    expect([...byLabel.keys()]).toEqual([
      'missing/cpu/b1/s8',
      'missing/webgpu/b1/s8',
      'bert/cpu/b1/s8',
      'bert/webgpu/b1/s8',
    ]);
    for (const label of ['missing/cpu/b1/s8', 'missing/webgpu/b1/s8']) {
      expect(byLabel.get(label)).toMatchObject({ status: 'failed', stats: null, latencies_ms: [] });
      expect(byLabel.get(label)!.reason).toMatch(/not found/i);
    }
    checkOk(byLabel.get('bert/cpu/b1/s8')!, 3, 0);
    const g = byLabel.get('bert/webgpu/b1/s8')!;
    if (webgpu.available) {
      expect(['ok', 'failed']).toContain(g.status);
    } else {
      expect(g).toMatchObject({ status: 'skipped', reason: webgpu.reason, stats: null });
    }
    // A backend the deps do not have at all.
    const none = await runBenchmark(request({ hardware: ['cuda'], min_duration_s: 0 }), deps(['cpu']));
    expect(none.configurations[0]).toMatchObject({ status: 'skipped' });
    expect(none.configurations[0].reason).toMatch(/not configured/);
  }, 60_000);

  it('stops with CancelledError when the signal fires mid-measurement', async () => {
    const controller = new AbortController();
    let measureReports = 0;
    const run = runBenchmark(request({ min_duration_s: 30, max_duration_s: 60 }), deps(['cpu']), {
      signal: controller.signal,
      onProgress: (r) => {
        if ((r.data as BenchmarkProgressData).phase === 'measure' && ++measureReports === 2)
          controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(measureReports).toBe(2);
  }, 30_000);

  it('rejects invalid requests with a validation error naming the field', async () => {
    await expect(runBenchmark(request({ batch_sizes: [0] }), deps(['cpu']))).rejects.toMatchObject({
      code: 'VALIDATION',
      details: { field: 'batch_sizes[0]' },
    });
    await expect(runBenchmark(request({ models: [] }), deps(['cpu']))).rejects.toBeInstanceOf(CoreError);
    await expect(
      runBenchmark(request({ min_duration_s: 5, max_duration_s: 1 }), deps(['cpu'])),
    ).rejects.toMatchObject({ code: 'VALIDATION' });
    await expect(runBenchmark(request({ rounds: 0 }), deps(['cpu']))).rejects.toMatchObject({
      code: 'VALIDATION',
      details: { field: 'rounds' },
    });
    await expect(runBenchmark(request({ rounds: 1001 }), deps(['cpu']))).rejects.toMatchObject({
      details: { field: 'rounds', max: 1000 },
    });
  });

  it('measures text -> tokenize -> run when the model has a tokenizer', async () => {
    // A model that accepts any token id: y = sum(float(input_ids) + float(attention_mask)), with the
    // WordPiece fixture tokenizer beside it, opened through the project's loader.
    const dir = mkdtempSync(join(tmpdir(), 'bench-pre-'));
    const vi = (name: string, elem: number, dims: (string | number)[]): onnx.IValueInfoProto => ({
      name,
      type: {
        tensorType: {
          elemType: elem,
          shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
        },
      },
    });
    const I64 = onnx.TensorProto.DataType.INT64;
    const F32 = onnx.TensorProto.DataType.FLOAT;
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'sum',
        node: [
          {
            opType: 'Cast',
            input: ['input_ids'],
            output: ['a'],
            attribute: [{ name: 'to', type: 2, i: F32 }],
          },
          {
            opType: 'Cast',
            input: ['attention_mask'],
            output: ['b'],
            attribute: [{ name: 'to', type: 2, i: F32 }],
          },
          { opType: 'Add', input: ['a', 'b'], output: ['c'] },
          {
            opType: 'ReduceSum',
            input: ['c'],
            output: ['y'],
            attribute: [{ name: 'keepdims', type: 2, i: 0 }],
          },
        ],
        input: [
          vi('input_ids', I64, ['batch', 'sequence']),
          vi('attention_mask', I64, ['batch', 'sequence']),
        ],
        output: [vi('y', F32, [])],
      },
    });
    const path = join(dir, 'model.onnx');
    writeFileSync(path, onnx.ModelProto.encode(model).finish());
    copyFileSync(join(TOKENIZER_FIXTURES, 'wordpiece.tokenizer.json'), join(dir, 'tokenizer.json'));

    const result = await runBenchmark(
      request({
        models: [{ name: 'sum', kind: 'onnx-file', path }],
        batch_sizes: [2],
        sequence_lengths: [12],
        include_preprocessing: true,
      }),
      deps(['cpu']),
    );
    const c = result.configurations[0];
    checkOk(c, 10, 0.2);
    const pre = c.preprocessing!;
    expect(pre).toBeDefined();
    expect(pre.words_per_sentence).toBeGreaterThanOrEqual(12);
    expect(pre.pipeline.count).toBe(pre.latencies_ms.length);
    expect(pre.pipeline.count).toBeGreaterThanOrEqual(10);
    expect(pre.tokenize.count).toBe(pre.pipeline.count);
    // Tokenizing is part of every pipeline iteration, so it is never the larger one.
    expect(pre.tokenize.min).toBeLessThanOrEqual(pre.pipeline.max);
    expect(pre.tokenize.total).toBeLessThanOrEqual(pre.pipeline.total);
    expect(pre.throughput_items_per_sec).toBeCloseTo(2 / (pre.pipeline.p50 / 1000), 6);
  }, 60_000);
});

describe('readGitCommit', () => {
  it('reads HEAD through refs and packed-refs without git, and returns null elsewhere', () => {
    const dir = mkdtempSync(join(tmpdir(), 'git-'));
    const sha = 'a'.repeat(40);
    execFileSync('mkdir', ['-p', join(dir, '.git/refs/heads')]);
    writeFileSync(join(dir, '.git/HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(dir, '.git/packed-refs'), `# pack-refs with: peeled\n${sha} refs/heads/main\n`);
    expect(readGitCommit(dir)).toBe(sha);
    writeFileSync(join(dir, '.git/refs/heads/main'), `${'b'.repeat(40)}\n`);
    expect(readGitCommit(dir)).toBe('b'.repeat(40));
    expect(readGitCommit(tmpdir() + '/definitely-not-a-repo')).toBeNull();
    expect(readGitCommit(undefined)).toBeNull();
  });
});
