import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { createBackends } from '../backends';
import { loadImplementation } from '../models/load';
import {
  compareRuns,
  DEFAULT_RUN_NOISE_CV,
  MIN_HISTORY_RUNS,
  pairedComparisons,
  roundValues,
} from './compare';
import {
  decide,
  pairedRatio,
  runNoiseFromHistory,
  tQuantile,
  unpairedRatio,
  withinRunVariance,
} from './ratio';
import { runBenchmark } from './runner';
import { summarize } from './stats';
import type { BenchmarkRequest, BenchmarkResult, ConfigurationResult, RoundSummary } from './types';

const BERT = join(HF_TINY, 'bert/torch_export.onnx');

const request: BenchmarkRequest = {
  models: [{ name: 'bert', kind: 'onnx-file', path: BERT }],
  hardware: ['cpu'],
  batch_sizes: [2],
  sequence_lengths: [16],
  precision: 'fp32',
  warmup: { min_iterations: 10, max_iterations: 200, steady_cv: 0.05 },
  min_iterations: 50,
  min_duration_s: 0.5,
  rounds: 5,
  seed: 3,
};

const run = (over: Partial<BenchmarkRequest> = {}) =>
  runBenchmark(
    { ...request, ...over },
    {
      loadModel: (ref) => loadImplementation({ kind: ref.kind, path: ref.path }),
      backends: createBackends(['cpu'], { intraOpNumThreads: 1 }),
    },
  );

/** A configuration whose rounds have exactly these medians (and minima at 90% of them). */
function withRounds(c: ConfigurationResult, medians: number[], over: Partial<ConfigurationResult> = {}) {
  const rounds: RoundSummary[] = medians.map((m, round) => ({
    round,
    count: 3,
    median_ms: m,
    min_ms: m * 0.9,
  }));
  const latencies_ms = medians.flatMap((m) => [m * 0.9, m, m * 1.1]);
  return {
    ...c,
    rounds,
    round_medians_ms: medians,
    latencies_ms,
    stats: summarize(latencies_ms),
    ...over,
  } satisfies ConfigurationResult;
}

function result(base: BenchmarkResult, configurations: ConfigurationResult[]): BenchmarkResult {
  return { ...base, configurations };
}

describe('ratio intervals (known data)', () => {
  it('pairs rounds: t interval of the mean log ratio with n - 1 degrees of freedom', () => {
    // log ratios 0.1, 0.2, 0.3: mean 0.2, sd 0.1, se 0.1 / sqrt(3); t(0.975, 2) = 4.302652729911275 (tables).
    const base = [10, 20, 40];
    const cand = base.map((b, i) => b * Math.exp([0.1, 0.2, 0.3][i]));
    const i = pairedRatio(base, cand, 0.95)!;
    const half = 4.302652729911275 * (0.1 / Math.sqrt(3));
    expect(i.method).toBe('paired-log');
    expect(i.df).toBe(2);
    expect(i.ratio).toBeCloseTo(Math.exp(0.2), 12);
    expect(i.lower).toBeCloseTo(Math.exp(0.2 - half), 6);
    expect(i.upper).toBeCloseTo(Math.exp(0.2 + half), 6);
  });

  it('two runs: Welch interval of the log means (equal spreads: df = 2n - 2)', () => {
    // logs 0, 0.1, 0.2 and 0.5, 0.6, 0.7: difference 0.5, se sqrt(2 * 0.01 / 3), df 4;
    // t(0.975, 4) = 2.776445105197793 (tables).
    const base = [0, 0.1, 0.2].map(Math.exp);
    const cand = [0.5, 0.6, 0.7].map(Math.exp);
    const i = unpairedRatio(base, cand, 0.95)!;
    const half = 2.776445105197793 * Math.sqrt((2 * 0.01) / 3);
    expect(i.method).toBe('welch-log');
    expect(i.df).toBeCloseTo(4, 9);
    expect(i.ratio).toBeCloseTo(Math.exp(0.5), 12);
    expect(i.lower).toBeCloseTo(Math.exp(0.5 - half), 6);
    expect(i.upper).toBeCloseTo(Math.exp(0.5 + half), 6);
    // Unequal spreads: Welch-Satterthwaite df is below m + n - 2.
    const wide = unpairedRatio(base, [0.2, 0.6, 1.0].map(Math.exp), 0.95)!;
    expect(wide.df).toBeGreaterThan(2);
    expect(wide.df).toBeLessThan(4);
  });

  it('two runs with a between-run component: variance 2 sigma^2 added, Satterthwaite df over three parts', () => {
    const base = [0, 0.1, 0.2].map(Math.exp);
    const cand = [0.5, 0.6, 0.7].map(Math.exp);
    const rounds = (2 * 0.01) / 3;
    // A prior (infinite df): the df comes from the rounds' parts alone.
    const prior = unpairedRatio(base, cand, 0.95, { sd: 0.05, df: Infinity })!;
    const v = rounds + 2 * 0.05 ** 2;
    const dfPrior = v ** 2 / ((2 * (0.01 / 3) ** 2) / 2);
    expect(prior.run_var_log).toBeCloseTo(2 * 0.05 ** 2, 15);
    expect(prior.se_log).toBeCloseTo(Math.sqrt(v), 12);
    expect(prior.df).toBeCloseTo(dfPrior, 9);
    expect(prior.ratio).toBeCloseTo(Math.exp(0.5), 12);
    expect(prior.lower).toBeCloseTo(Math.exp(0.5 - tQuantile(0.95, dfPrior) * Math.sqrt(v)), 9);
    // An estimate from 5 earlier runs (df 4) adds its own term.
    const est = unpairedRatio(base, cand, 0.95, { sd: 0.05, df: 4 })!;
    expect(est.df).toBeCloseTo(v ** 2 / ((2 * (0.01 / 3) ** 2) / 2 + (2 * 0.05 ** 2) ** 2 / 4), 9);
    expect(est.upper).toBeGreaterThan(prior.upper);
    // sd 0 is the rounds alone.
    expect(unpairedRatio(base, cand, 0.95, { sd: 0, df: Infinity })!.upper).toBeCloseTo(
      unpairedRatio(base, cand, 0.95)!.upper,
      12,
    );
    expect(() => unpairedRatio(base, cand, 0.95, { sd: -1, df: Infinity })).toThrow(/run noise/);
  });

  it('the between-run component from earlier runs: their log variance less the within-run part', () => {
    // logs 0, 0.04, 0.08, 0.12, 0.16: variance 0.004 (sample).
    const values = [0, 0.04, 0.08, 0.12, 0.16].map(Math.exp);
    expect(runNoiseFromHistory(values, 0)).toEqual({ sd: expect.closeTo(Math.sqrt(0.004), 12), df: 4 });
    expect(runNoiseFromHistory(values, 0.001)!.sd).toBeCloseTo(Math.sqrt(0.003), 12);
    // Rounds that already explain all of it leave no between-run part.
    expect(runNoiseFromHistory(values, 0.01)!.sd).toBe(0);
    expect(runNoiseFromHistory([1, 2], 0)).toBeUndefined();
    // Within-run variance of a run mean: the average of the two sides' var(log rounds) / n.
    expect(withinRunVariance([0, 0.1, 0.2].map(Math.exp), [0.5, 0.7, 0.9].map(Math.exp))).toBeCloseTo(
      (0.01 / 3 + 0.04 / 3) / 2,
      12,
    );
  });

  it('t quantiles match the tables, and the normal one for infinite df', () => {
    expect(tQuantile(0.95, 1)).toBeCloseTo(12.706204736174698, 6);
    expect(tQuantile(0.99, 10)).toBeCloseTo(3.169272672616872, 6);
    expect(tQuantile(0.95, Infinity)).toBeCloseTo(1.959963984540054, 6);
  });

  it('needs two rounds per side, positive values and a confidence in (0, 1)', () => {
    expect(unpairedRatio([1], [1, 2])).toBeUndefined();
    expect(pairedRatio([1, 2], [1, 2, 3])).toBeUndefined();
    expect(() => unpairedRatio([1, 0], [1, 2])).toThrow(/> 0/);
    expect(() => pairedRatio([1, 2], [1, 2], 1)).toThrow(/confidence/);
  });
});

describe('decide', () => {
  const interval = (lower: number, ratio: number, upper: number) => ({
    ratio,
    lower,
    upper,
    confidence: 0.95,
    method: 'welch-log' as const,
    df: 8,
    se_log: (Math.log(upper) - Math.log(lower)) / (2 * tQuantile(0.95, 8)),
    run_var_log: 0,
    n_baseline: 5,
    n_candidate: 5,
  });

  it('regressed or improved only when the whole interval is beyond the threshold', () => {
    expect(decide(interval(1.06, 1.1, 1.14), 0.05).verdict).toBe('regressed');
    expect(decide(interval(0.8, 0.85, 0.9), 0.05).verdict).toBe('improved');
    expect(decide(interval(0.97, 1.0, 1.03), 0.05).verdict).toBe('unchanged');
    expect(decide(interval(1.04, 1.1, 1.16), 0.05).verdict).toBe('inconclusive');
  });

  it('says why, and how many rounds would decide an inconclusive case', () => {
    const d = decide(interval(1.02, 1.1, 1.19), 0.05);
    expect(d.verdict).toBe('inconclusive');
    expect(d.reason).toMatch(/too noisy to tell/);
    expect(d.rounds_needed).toBeGreaterThan(5);
    // More rounds at the same spread narrow the interval; the estimate is that they suffice:
    // half-width t(df) * s * sqrt(2 / n) must fit in log(1.1) - log(1.05).
    const s = d.rounds_needed!;
    const perRound = interval(1.02, 1.1, 1.19).se_log / Math.sqrt(2 / 5);
    expect(tQuantile(0.95, 2 * s - 2) * perRound * Math.sqrt(2 / s)).toBeLessThanOrEqual(
      Math.log(1.1) - Math.log(1.05),
    );
    expect(tQuantile(0.95, 2 * s - 4) * perRound * Math.sqrt(2 / (s - 1))).toBeGreaterThan(
      Math.log(1.1) - Math.log(1.05),
    );
    // When the between-run part alone is wider than the margin, more rounds cannot decide.
    const runBound = { ...interval(1.0, 1.1, 1.21), run_var_log: 2 * 0.04 ** 2 };
    const r = decide(runBound, 0.05);
    expect(r.verdict).toBe('inconclusive');
    expect(r.rounds_needed).toBeNull();
    expect(r.reason).toMatch(
      /between-run noise alone .* more rounds cannot decide: measure both side by side/,
    );
    // On the threshold itself no number of rounds decides.
    expect(decide(interval(0.9, 1.05, 1.2), 0.05).rounds_needed).toBeNull();
    expect(decide(undefined, 0.05)).toMatchObject({ verdict: 'inconclusive', rounds_needed: null });
    expect(() => decide(interval(1, 1, 1), -1)).toThrow(/threshold/);
  });
});

describe('compareRuns', () => {
  let baseline: BenchmarkResult;
  let candidate: BenchmarkResult;

  beforeAll(async () => {
    baseline = await run();
    candidate = await run();
  }, 120_000);

  it('measures rounds and compares two real runs by their round medians', () => {
    for (const r of [baseline, candidate]) {
      const c = r.configurations[0];
      expect(c.rounds).toHaveLength(5);
      expect(c.rounds.reduce((n, x) => n + x.count, 0)).toBe(c.latencies_ms.length);
      expect(c.round_medians_ms).toEqual(c.rounds.map((x) => x.median_ms));
      expect(c.noise_cv).toBeGreaterThanOrEqual(0);
    }
    const cmp = compareRuns(baseline, candidate, { threshold: 1 });
    expect(cmp.configurations).toHaveLength(1);
    const c = cmp.configurations[0];
    expect(c).toMatchObject({ model: 'bert', backend: 'cpu', batch_size: 2, sequence_length: 16 });
    expect(c.baseline_rounds).toBe(5);
    expect(c.candidate_rounds).toBe(5);
    expect(c.ratio_ci![0]).toBeLessThanOrEqual(c.ratio!);
    expect(c.ratio_ci![1]).toBeGreaterThanOrEqual(c.ratio!);
    const expected = unpairedRatio(
      roundValues(baseline.configurations[0]),
      roundValues(candidate.configurations[0]),
    );
    expect(c.ratio).toBeCloseTo(expected!.ratio, 12);
    // The same model measured twice: never a regression or an improvement by 2x.
    expect(['unchanged', 'inconclusive']).toContain(c.verdict);
    expect(cmp).toMatchObject({ threshold: 1, confidence: 0.95, statistic: 'min' });
  });

  it('finds a candidate 1.5x slower regressed and 1.5x faster improved, per round', () => {
    const medians = [1.0, 1.02, 0.99, 1.01, 0.98];
    const b = result(baseline, [withRounds(baseline.configurations[0], medians)]);
    const slower = compareRuns(
      b,
      result(baseline, [
        withRounds(
          baseline.configurations[0],
          medians.map((m) => m * 1.5),
        ),
      ]),
    );
    expect(slower.configurations[0].verdict).toBe('regressed');
    expect(slower.configurations[0].ratio).toBeCloseTo(1.5, 9);
    expect(slower.verdict).toBe('regressed');
    expect(slower.reason).toMatch(/regressed/);
    const faster = compareRuns(
      b,
      result(baseline, [
        withRounds(
          baseline.configurations[0],
          medians.map((m) => m / 1.5),
        ),
      ]),
    );
    expect(faster.verdict).toBe('improved');
    // 3% slower with 1.5% round-to-round noise at a 5% threshold: wholly inside the bounds or not
    // decidable, never a regression.
    const small = compareRuns(
      b,
      result(baseline, [
        withRounds(
          baseline.configurations[0],
          medians.map((m) => m * 1.03),
        ),
      ]),
    );
    expect(['unchanged', 'inconclusive']).toContain(small.verdict);
    // Round minima are used on request.
    const byMin = compareRuns(b, b, { statistic: 'min', runNoiseCv: 0 });
    expect(byMin.configurations[0]).toMatchObject({ ratio: 1, verdict: 'unchanged' });
    expect(byMin.statistic).toBe('min');
  });

  it('is inconclusive, not unchanged, when the spread is too wide for the threshold', () => {
    const b = result(baseline, [withRounds(baseline.configurations[0], [1, 1.3, 0.8, 1.2, 0.9])]);
    const c = result(baseline, [withRounds(baseline.configurations[0], [1.1, 0.8, 1.3, 0.9, 1.2])]);
    const cmp = compareRuns(b, c, { threshold: 0.05 });
    expect(cmp.verdict).toBe('inconclusive');
    expect(cmp.configurations[0].reason).toMatch(/straddles/);
    expect(cmp.configurations[0].rounds_needed).not.toBe(0);
    expect(cmp.configurations[0].baseline_noise_cv).toBeGreaterThan(0.1);
  });

  it('separate runs: a between-run offset is not a regression (prior, history or request)', () => {
    // Two runs of the same model whose rounds agree within 0.5% but whose levels differ by 8%: the
    // machine's state differed between the runs. The rounds alone call that a regression.
    const tight = [1.0, 1.005, 0.995, 1.002, 0.998];
    const b = result(baseline, [withRounds(baseline.configurations[0], tight)]);
    const c = result(baseline, [
      withRounds(
        baseline.configurations[0],
        tight.map((m) => m * 1.08),
      ),
    ]);
    const roundsOnly = compareRuns(b, c, { runNoiseCv: 0 });
    expect(roundsOnly.configurations[0]).toMatchObject({
      verdict: 'regressed',
      run_noise: { cv: 0, source: 'request', runs: null },
    });
    const withPrior = compareRuns(b, c);
    expect(withPrior.configurations[0].run_noise).toEqual({
      cv: DEFAULT_RUN_NOISE_CV,
      source: 'prior',
      runs: null,
    });
    expect(withPrior.configurations[0].verdict).toBe('inconclusive');
    expect(withPrior.configurations[0].reason).toMatch(/more rounds cannot decide/);
    // A 30% slowdown is still found through the prior.
    const slower = compareRuns(
      b,
      result(baseline, [
        withRounds(
          baseline.configurations[0],
          tight.map((m) => m * 1.3),
        ),
      ]),
    );
    expect(slower.configurations[0].verdict).toBe('regressed');
    // History of a quiet configuration (runs within 0.3%) narrows the interval back: 8% is real there.
    const quiet = [1.0, 1.003, 0.998, 1.001, 0.997, 1.002, 0.999, 1.001, 1.0, 0.998, 1.002];
    const fromQuiet = compareRuns(b, c, { history: () => quiet });
    expect(fromQuiet.configurations[0].run_noise).toMatchObject({ source: 'history', runs: 11 });
    expect(fromQuiet.configurations[0].run_noise.cv).toBeLessThan(0.005);
    expect(fromQuiet.configurations[0].verdict).toBe('regressed');
    // ... and of a noisy one (runs 10% apart) widens it.
    const noisy = [1.0, 1.1, 0.92, 1.05, 0.95, 1.08, 0.97, 1.12, 0.9, 1.03, 0.96];
    const fromNoisy = compareRuns(b, c, { history: () => noisy });
    expect(fromNoisy.configurations[0].run_noise.cv).toBeGreaterThan(0.05);
    expect(fromNoisy.configurations[0].verdict).toBe('inconclusive');
    // Fewer than MIN_HISTORY_RUNS earlier runs: the prior, with the count found.
    expect(
      compareRuns(b, c, { history: () => quiet.slice(0, MIN_HISTORY_RUNS - 1) }).configurations[0].run_noise,
    ).toEqual({
      cv: DEFAULT_RUN_NOISE_CV,
      source: 'prior',
      runs: MIN_HISTORY_RUNS - 1,
    });
    expect(() => compareRuns(b, c, { runNoiseCv: 2 })).toThrow(/run_noise_cv/);
  });

  it('a result stored before rounds existed counts as one round: inconclusive', () => {
    const old = result(baseline, [
      { ...baseline.configurations[0], rounds: undefined!, round_medians_ms: undefined! },
    ]);
    const cmp = compareRuns(old, old);
    expect(cmp.configurations[0]).toMatchObject({ baseline_rounds: 1, verdict: 'inconclusive', ratio: null });
    expect(cmp.configurations[0].reason).toMatch(/stored before rounds existed/);
    expect(cmp.verdict).toBe('inconclusive');
  });

  it('matches by content id, not by the name or path it was given', () => {
    const a = result(baseline, [{ ...baseline.configurations[0], model: 'models/x', model_id: 'bafyA' }]);
    const sameContent = result(candidate, [
      { ...candidate.configurations[0], model: '/data/models/x', model_id: 'bafyA' },
    ]);
    const matched = compareRuns(a, sameContent, { threshold: 0.5 });
    expect(matched.unmatched).toEqual([]);
    expect(matched.configurations[0]).toMatchObject({ model_id: 'bafyA', candidate_model: '/data/models/x' });

    const otherContent = result(candidate, [
      { ...candidate.configurations[0], model: 'models/x', model_id: 'bafyB' },
    ]);
    const cmp = compareRuns(a, otherContent, { threshold: 0.5 });
    expect(cmp.configurations).toEqual([]);
    expect(cmp.verdict).toBe('inconclusive');
    expect(cmp.reason).toMatch(/no configuration of the baseline matches/);
    expect(cmp.unmatched).toEqual([
      expect.objectContaining({ side: 'baseline', reason: expect.stringContaining('other content: bafyB') }),
      expect.objectContaining({ side: 'candidate', model_id: 'bafyB' }),
    ]);
  });

  it('lists configurations it cannot compare; any of them makes the verdict inconclusive', () => {
    const b0 = withRounds(baseline.configurations[0], [1, 1.01, 0.99, 1, 1.02]);
    const extra: ConfigurationResult = { ...b0, batch_size: 8, label: 'bert/cpu/b8/s16' };
    const skipped: ConfigurationResult = {
      ...b0,
      backend: 'cuda',
      status: 'skipped',
      reason: 'no GPU',
      latencies_ms: [],
      stats: null,
    };
    const twice = withRounds(
      b0,
      b0.round_medians_ms.map((m) => m * 2),
    );
    const cmp = compareRuns(
      result(baseline, [b0, skipped]),
      result(baseline, [twice, { ...skipped }, extra]),
    );
    expect(cmp.configurations.map((c) => c.verdict)).toEqual(['regressed']);
    // A regression anywhere is the verdict whatever else is unmatched.
    expect(cmp.verdict).toBe('regressed');
    expect(cmp.unmatched).toEqual([
      expect.objectContaining({ side: 'both', backend: 'cuda', reason: expect.stringContaining('no GPU') }),
      expect.objectContaining({ side: 'candidate', batch_size: 8 }),
    ]);
    const same = compareRuns(result(baseline, [b0, skipped]), result(baseline, [b0, { ...skipped }]));
    expect(same.verdict).toBe('inconclusive');
    expect(same.reason).toMatch(/no measured counterpart/);
    expect(() => compareRuns(baseline, candidate, { confidence: 1 })).toThrow(/confidence/);
    expect(() => compareRuns(baseline, candidate, { threshold: -0.1 })).toThrow(/threshold/);
    expect(() => compareRuns(baseline, candidate, { statistic: 'mean' as never })).toThrow(/statistic/);
  });
});

describe('paired comparisons in one run', () => {
  it('pairs two models measured side by side round by round', async () => {
    const r = await run({
      models: [
        { name: 'a', kind: 'onnx-file', path: BERT },
        { name: 'b', kind: 'onnx-file', path: BERT },
      ],
      min_duration_s: 0.4,
      min_iterations: 20,
    });
    expect(r.paired).toHaveLength(1);
    const p = r.paired![0];
    expect(p).toMatchObject({
      baseline_label: 'a/cpu/b2/s16',
      candidate_label: 'b/cpu/b2/s16',
      varies: ['model'],
      rounds: 5,
    });
    const expected = pairedRatio(roundValues(r.configurations[0]), roundValues(r.configurations[1]))!;
    expect(p.ratio).toBeCloseTo(expected.ratio, 12);
    expect(p.ratio_ci).toEqual([expected.lower, expected.upper]);
    // The same file under two names: never 2x apart.
    expect(pairedComparisons(r.configurations, { threshold: 1 }).map((x) => x.verdict)[0]).not.toMatch(
      /regressed|improved/,
    );
  }, 120_000);

  it('finds a paired 1.3x slowdown even when the machine drifts by more than that between rounds', () => {
    // Drift: round r is (1 + r) times slower for both; the candidate is 1.3x the baseline within each round.
    const c0 = {
      label: 'a/cpu/b1',
      model: 'a',
      backend: 'cpu',
      precision: 'fp32',
      batch_size: 1,
      sequence_length: null,
      status: 'ok',
    } as unknown as ConfigurationResult;
    const drift = [1, 2, 3, 4, 5];
    const noise = [1.01, 0.99, 1.0, 1.02, 0.98];
    const a = withRounds(
      c0,
      drift.map((d, i) => d * noise[i]),
    );
    const b = withRounds(
      { ...c0, model: 'b', label: 'b/cpu/b1' },
      drift.map((d, i) => 1.3 * d * noise[(i + 2) % 5]),
    );
    const [p] = pairedComparisons([a, b]);
    expect(p.verdict).toBe('regressed');
    expect(p.ratio).toBeGreaterThan(1.25);
    // Unpaired, the same numbers are far too spread to tell.
    expect(
      compareRuns(result({} as BenchmarkResult, [a]), result({} as BenchmarkResult, [{ ...b, model: 'a' }]))
        .verdict,
    ).toBe('inconclusive');
  });
});
