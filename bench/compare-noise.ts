/**
 * Does the comparison cry wolf? False-alarm and detection rates of compareRuns on this machine.
 *
 *   npx ts-node --transpile-only bench/compare-noise.ts [runs] [min_duration_s] [rounds] [reload_each_round]
 *
 * For two model sizes (a sub-millisecond BERT and a ~5 ms BERT, random weights built here with the
 * generator's graph builder) and a variant of each with one more layer (the same architecture, about
 * 20-50% more work):
 * - `runs` separate benchmark runs of A and of B (default 6 each; separate runBenchmark calls, each
 *   with its own session, alternating A, B, A, B so that drift of the machine hits both alike);
 * - A/A: every pair of A runs compared (runs * (runs - 1) / 2 pairs); a false alarm is a verdict
 *   other than `unchanged` or `inconclusive`;
 * - A/B: every (A run, B run) pair compared (runs^2 pairs); detected means `regressed`;
 * - each with three assumptions about the between-run noise: none (the rounds alone), the prior
 *   (DEFAULT_RUN_NOISE_CV), and, with runs >= MIN_HISTORY_RUNS + 2, the history the server would
 *   use (the other A runs' medians);
 * - paired: one run measuring A and B side by side round by round, its paired verdict.
 * Prints the rates against the targets (false alarms <= 5%, detection >= 95%), the ratio intervals,
 * and the noise floor (CV of round medians) of each run. Nothing is asserted: it prints figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackends } from '../libs/core/src/backends';
import {
  compareRuns,
  DEFAULT_RUN_NOISE_CV,
  MIN_HISTORY_RUNS,
  pairedComparisons,
  ROUND_STATISTICS,
  roundValues,
  runBenchmark,
  type RoundStatistic,
  type BenchmarkResult,
  type CompareOptions,
} from '../libs/core/src/benchmark';
import { percentile } from '../libs/core/src/benchmark/stats';
import { loadImplementation } from '../libs/core/src/models/load';
import { buildOnnxModel } from '../libs/core/src/onnx';

interface Size {
  name: string;
  hidden: number;
  layers: number;
  heads: number;
  seq: number;
}

const SIZES: Size[] = [
  { name: 'sub-ms', hidden: 64, layers: 2, heads: 2, seq: 16 },
  { name: '~5 ms', hidden: 256, layers: 4, heads: 4, seq: 128 },
];

function bertConfig(s: Size, layers: number): Record<string, unknown> {
  return {
    model_type: 'bert',
    architectures: ['BertModel'],
    vocab_size: 1000,
    hidden_size: s.hidden,
    num_hidden_layers: layers,
    num_attention_heads: s.heads,
    intermediate_size: s.hidden * 4,
    max_position_embeddings: 512,
    type_vocab_size: 2,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
  };
}

const fmt = (x: number | null | undefined, d = 3) => (x === null || x === undefined ? '-' : x.toFixed(d));

async function main(): Promise<void> {
  const runs = Number(process.argv[2] || 6);
  const minDuration = Number(process.argv[3] || 2);
  const rounds = Number(process.argv[4] || 5);
  const reload = process.argv[5] === 'true';
  const dir = mkdtempSync(join(tmpdir(), 'compare-noise-'));
  const backends = createBackends(['cpu'], { intraOpNumThreads: 1 });
  try {
    for (const size of SIZES) {
      const paths: Record<'A' | 'B', string> = { A: '', B: '' };
      for (const [variant, layers] of [
        ['A', size.layers],
        ['B', size.layers + 1],
      ] as const) {
        const out = join(dir, `${size.hidden}-${layers}`);
        const built = await buildOnnxModel({
          config: bertConfig(size, layers),
          outDir: out,
          weights: 'random',
          seed: 1,
        });
        paths[variant] = built.onnxPath;
      }
      const bench = (models: Array<'A' | 'B'>, names: string[] = models): Promise<BenchmarkResult> =>
        runBenchmark(
          {
            models: models.map((m, i) => ({ name: names[i], kind: 'onnx-file' as const, path: paths[m] })),
            hardware: ['cpu'],
            batch_sizes: [1],
            sequence_lengths: [size.seq],
            precision: 'fp32',
            warmup: { min_iterations: 10, max_iterations: 200, steady_cv: 0.05 },
            min_iterations: 10,
            min_duration_s: minDuration,
            rounds,
            reload_each_round: reload,
            seed: 1,
          },
          { loadModel: (ref) => loadImplementation({ kind: ref.kind, path: ref.path }), backends },
        );
      // Content ids as the server records them: one per model, the same for every run of it.
      const withId = (r: BenchmarkResult): BenchmarkResult => ({
        ...r,
        configurations: r.configurations.map((c) => ({ ...c, model_id: `bench-${size.name}` })),
      });
      // B runs are relabelled A so they match A's configurations.
      const a: BenchmarkResult[] = [];
      const b: BenchmarkResult[] = [];
      for (let i = 0; i < runs; i++) {
        a.push(withId(await bench(['A'])));
        b.push(withId(await bench(['B'], ['A'])));
      }
      const median = (r: BenchmarkResult) => r.configurations[0].stats?.p50 ?? NaN;
      console.log(
        `\n== ${size.name}: BERT hidden ${size.hidden}, ${size.layers} vs ${size.layers + 1} layers, batch 1, seq ${size.seq}, ${rounds} rounds x ${fmt(minDuration / rounds, 2)} s${reload ? ', a fresh session per round' : ''}`,
      );
      console.log(`A medians (ms): ${a.map((r) => fmt(median(r))).join(' ')}`);
      console.log(`B medians (ms): ${b.map((r) => fmt(median(r))).join(' ')}`);
      console.log(
        `A noise (CV of round medians): ${a.map((r) => fmt(r.configurations[0].noise_cv)).join(' ')}`,
      );
      const spread = a.map(median);
      console.log(
        `A run-to-run: ${fmt(((Math.min(...spread) - percentile(spread, 0.5)) / percentile(spread, 0.5)) * 100, 1)}% .. +${fmt(((Math.max(...spread) - percentile(spread, 0.5)) / percentile(spread, 0.5)) * 100, 1)}% around the median run; B/A true ratio ~ ${fmt(percentile(b.map(median), 0.5) / percentile(spread, 0.5))}`,
      );

      // The spread of run-level values between runs: what the between-run component models.
      const sdLog = (v: number[]) => {
        const l = v.map(Math.log);
        const m = l.reduce((x, y) => x + y, 0) / l.length;
        return Math.sqrt(l.reduce((x, y) => x + (y - m) ** 2, 0) / (l.length - 1));
      };
      const geo = (r: BenchmarkResult, statistic: RoundStatistic) =>
        Math.exp(
          roundValues(r.configurations[0], statistic)
            .map(Math.log)
            .reduce((x, y) => x + y, 0) / r.configurations[0].rounds.length,
        );
      console.log(
        `A between runs, SD of log run values: median of rounds ${fmt(sdLog(a.map((r) => geo(r, 'median'))), 4)}, min of rounds ${fmt(sdLog(a.map((r) => geo(r, 'min'))), 4)}; B: ${fmt(sdLog(b.map((r) => geo(r, 'median'))), 4)}, ${fmt(sdLog(b.map((r) => geo(r, 'min'))), 4)}`,
      );

      const tally = (verdicts: string[]) =>
        Object.entries(verdicts.reduce<Record<string, number>>((m, v) => ((m[v] = (m[v] ?? 0) + 1), m), {}))
          .map(([k, n]) => `${k} ${n}`)
          .join(', ');
      // Between-run noise, as the server would take it: none (the rounds alone), the prior, or the
      // history of earlier runs of the baseline's configuration (here: the other A runs).
      type Mode = { name: string; opts: (exclude: number[]) => CompareOptions };
      const modes: Mode[] = (
        [
          { name: 'rounds only', opts: () => ({ runNoiseCv: 0 }) },
          { name: `prior ${DEFAULT_RUN_NOISE_CV}`, opts: () => ({}) },
          {
            name: 'history',
            opts: (exclude: number[]) => ({
              // As the server's rows keep them: each run's median, or its minimum.
              history: (_c: unknown, st: RoundStatistic) =>
                a
                  .filter((_, k) => !exclude.includes(k))
                  .map((r) => (st === 'min' ? r.configurations[0].stats!.min : median(r))),
            }),
          },
        ] as Mode[]
      ).filter((m) => m.name !== 'history' || runs - 2 >= MIN_HISTORY_RUNS);
      for (const statistic of ROUND_STATISTICS) {
        for (const mode of modes) {
          const tag = `[${statistic}, ${mode.name}]`;
          const aa: string[] = [];
          for (let i = 0; i < runs; i++)
            for (let j = i + 1; j < runs; j++)
              aa.push(compareRuns(a[i], a[j], { statistic, ...mode.opts([i, j]) }).verdict);
          const alarms = aa.filter((v) => v !== 'unchanged' && v !== 'inconclusive').length;
          console.log(
            `${tag} A/A: ${aa.length} pairs: ${tally(aa)}; false alarms ${alarms} = ${fmt((alarms / aa.length) * 100, 1)}% (target <= 5%)`,
          );
          const ab: string[] = [];
          const intervals: string[] = [];
          for (let i = 0; i < runs; i++) {
            for (let j = 0; j < runs; j++) {
              // B has other content, but withId gave both the same id: compared as the same configuration,
              // as a gate compares a model before and after a change that made it slower.
              const c = compareRuns(a[i], b[j], { statistic, ...mode.opts([i]) });
              ab.push(c.verdict);
              if (i === j)
                intervals.push(c.configurations[0]?.ratio_ci?.map((x) => fmt(x)).join('..') ?? '-');
            }
          }
          const detected = ab.filter((v) => v === 'regressed').length;
          console.log(
            `${tag} A/B: ${ab.length} pairs: ${tally(ab)}; detected ${detected} = ${fmt((detected / ab.length) * 100, 1)}% (target >= 95%)`,
          );
          console.log(`${tag} A/B intervals of A_i vs B_i: ${intervals.join(' ')}`);
        }
      }
      const ab1 = (await bench(['A', 'B'])).configurations;
      const aa1 = (await bench(['A', 'A'], ['A1', 'A2'])).configurations;
      for (const statistic of ROUND_STATISTICS) {
        for (const p of pairedComparisons(ab1, { statistic }))
          console.log(`[${statistic}] paired A/B in one run: ${p.verdict}: ${p.reason}`);
        for (const p of pairedComparisons(aa1, { statistic }))
          console.log(`[${statistic}] paired A/A in one run: ${p.verdict}: ${p.reason}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
