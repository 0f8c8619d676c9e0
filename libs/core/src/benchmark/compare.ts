/**
 * Baseline vs candidate, per matching configuration: the ratio of round medians with a confidence
 * interval from the between-round spread, and a verdict against a threshold (see ratio.ts for the
 * method). Also the paired ratios of configurations measured side by side in one run.
 *
 * Matching is by content, not by name: the model's content id (`model_id`, the manifest or file CID
 * the server records) plus backend, precision, batch size and sequence length. Configurations without
 * a content id (results produced outside the server) match by model name.
 */
import { CoreError, ErrorCode } from '../errors';
import {
  decide,
  pairedRatio,
  runNoiseFromHistory,
  unpairedRatio,
  withinRunVariance,
  type RatioInterval,
  type RunNoise,
} from './ratio';
import { coefficientOfVariation, percentile } from './stats';
import type {
  BenchmarkResult,
  ComparisonResult,
  ComparisonVerdict,
  ConfigurationComparison,
  ConfigurationResult,
  PairedComparison,
  RoundStatistic,
  RunNoiseUsed,
  UnmatchedConfiguration,
} from './types';

export interface CompareOptions {
  /** Smallest relative change that counts (0.05 = 5%). Default {@link DEFAULT_THRESHOLD}. */
  threshold?: number;
  /** Two-sided confidence level of the ratio interval. Default 0.95. */
  confidence?: number;
  /** The per-round value compared. Default {@link DEFAULT_STATISTIC}. */
  statistic?: RoundStatistic;
  /**
   * Between-run noise of separate runs (a relative standard deviation of one run's value beyond what
   * its rounds show, 0.03 = 3%). When given it is used as is; otherwise it is estimated from
   * `history`, else {@link DEFAULT_RUN_NOISE_CV}. Paired comparisons (one run) never use it.
   */
  runNoiseCv?: number;
  /**
   * Run-level latencies of earlier runs of the same configuration (same content, backend,
   * precision, batch and sequence) for the statistic compared (their median for `median`, their
   * minimum for `min`), the two compared runs' own excluded or included as the caller decides; at
   * least {@link MIN_HISTORY_RUNS} make an estimate of the between-run noise.
   */
  history?: (configuration: ConfigurationResult, statistic: RoundStatistic) => readonly number[] | undefined;
}

export const DEFAULT_THRESHOLD = 0.05;
export const DEFAULT_CONFIDENCE = 0.95;
/**
 * Round minima by default: interference on a shared machine only adds time, so the minimum of a round
 * moves least when the machine is busy (Chen & Revels, "Robust benchmarking in noisy environments",
 * 2016, BenchmarkTools.jl's default estimator for judging). Measured here by bench/compare-noise.ts:
 * with round medians a sub-millisecond model's 38% slowdown was found in 83-86% of run pairs, with
 * round minima in 100%. `statistic=median` is there when tails matter.
 */
export const DEFAULT_STATISTIC: RoundStatistic = 'min';
export const ROUND_STATISTICS: readonly RoundStatistic[] = ['median', 'min'];
/**
 * The between-run noise assumed for two separate runs when no history of the configuration exists:
 * 3%, the spread of run medians of one unchanged model measured by bench/compare-noise.ts on a shared
 * 2-core machine (1% for a sub-millisecond model, 2-4% for a 5 ms one). A dedicated quiet machine can
 * pass a smaller `run_noise_cv` (0 trusts the rounds alone).
 */
export const DEFAULT_RUN_NOISE_CV = 0.03;
/**
 * Earlier runs needed before their spread replaces the prior: an estimate from fewer has so few
 * degrees of freedom that its t quantile makes the interval wider than the prior's (measured: with 5
 * runs, a 27% slowdown was found in 14-36% of pairs).
 */
export const MIN_HISTORY_RUNS = 10;

function options(o: CompareOptions): {
  threshold: number;
  confidence: number;
  statistic: RoundStatistic;
  runNoiseCv: number | undefined;
} {
  const statistic = o.statistic ?? DEFAULT_STATISTIC;
  if (!ROUND_STATISTICS.includes(statistic)) {
    throw new CoreError(ErrorCode.VALIDATION, `statistic must be one of ${ROUND_STATISTICS.join(', ')}`, {
      field: 'statistic',
      value: statistic,
    });
  }
  const threshold = o.threshold ?? DEFAULT_THRESHOLD;
  const confidence = o.confidence ?? DEFAULT_CONFIDENCE;
  if (!(threshold >= 0) || !Number.isFinite(threshold) || threshold > 10) {
    throw new CoreError(ErrorCode.VALIDATION, 'threshold must be a number in [0, 10]', {
      field: 'threshold',
      value: threshold,
    });
  }
  if (!(confidence >= 0.5 && confidence < 1)) {
    throw new CoreError(ErrorCode.VALIDATION, 'confidence must be in [0.5, 1)', {
      field: 'confidence',
      value: confidence,
    });
  }
  const runNoiseCv = o.runNoiseCv;
  if (runNoiseCv !== undefined && !(runNoiseCv >= 0 && runNoiseCv <= 1)) {
    throw new CoreError(ErrorCode.VALIDATION, 'run_noise_cv must be a number in [0, 1]', {
      field: 'run_noise_cv',
      value: runNoiseCv,
    });
  }
  return { threshold, confidence, statistic, runNoiseCv };
}

/** The between-run component for one configuration: the request's, else the history's, else the prior. */
function runNoiseFor(
  b: ConfigurationResult,
  bm: readonly number[],
  cm: readonly number[],
  runNoiseCv: number | undefined,
  history: CompareOptions['history'],
  statistic: RoundStatistic,
): { noise: RunNoise; used: RunNoiseUsed } {
  if (runNoiseCv !== undefined) {
    return {
      noise: { sd: runNoiseCv, df: Infinity },
      used: { cv: runNoiseCv, source: 'request', runs: null },
    };
  }
  const earlier = (history?.(b, statistic) ?? []).filter((v) => v > 0 && Number.isFinite(v));
  if (earlier.length >= MIN_HISTORY_RUNS) {
    const est = runNoiseFromHistory(earlier, withinRunVariance(bm, cm));
    if (est) return { noise: est, used: { cv: est.sd, source: 'history', runs: earlier.length } };
  }
  return {
    noise: { sd: DEFAULT_RUN_NOISE_CV, df: Infinity },
    used: { cv: DEFAULT_RUN_NOISE_CV, source: 'prior', runs: earlier.length || null },
  };
}

/**
 * The per-round values of a configuration (medians or minima); a result stored before rounds existed
 * counts as one round.
 */
export function roundValues(c: ConfigurationResult, statistic: RoundStatistic = DEFAULT_STATISTIC): number[] {
  if (Array.isArray(c.rounds) && c.rounds.length > 0) {
    return c.rounds.map((r) => (statistic === 'min' ? (r.min_ms ?? r.median_ms) : r.median_ms));
  }
  if (c.latencies_ms.length === 0) return [];
  return [statistic === 'min' ? Math.min(...c.latencies_ms) : percentile(c.latencies_ms, 0.5)];
}

function noiseCv(medians: readonly number[]): number | null {
  return medians.length >= 2 ? coefficientOfVariation(medians) : null;
}

function contentKey(c: ConfigurationResult): string {
  const id = c.model_id ? `cid:${c.model_id}` : `name:${c.model}`;
  return JSON.stringify([id, c.backend, c.precision ?? null, c.batch_size, c.sequence_length]);
}

function nameKey(c: ConfigurationResult): string {
  return JSON.stringify([c.model, c.backend, c.precision ?? null, c.batch_size, c.sequence_length]);
}

function comparable(c: ConfigurationResult): boolean {
  return c.status === 'ok' && c.latencies_ms.length > 0;
}

function where(c: ConfigurationResult) {
  return {
    model: c.model,
    model_id: c.model_id ?? null,
    backend: c.backend,
    precision: c.precision ?? null,
    batch_size: c.batch_size,
    sequence_length: c.sequence_length,
  } as Omit<UnmatchedConfiguration, 'side' | 'reason'>;
}

function ci(i: RatioInterval | undefined): [number, number] | null {
  return i ? [i.lower, i.upper] : null;
}

/** The overall verdict: any regression wins; then any doubt; then any improvement. */
function overall(
  configurations: ConfigurationComparison[],
  unmatched: UnmatchedConfiguration[],
): { verdict: ComparisonVerdict; reason: string } {
  const by = (v: ComparisonVerdict) => configurations.filter((c) => c.verdict === v);
  const label = (c: ConfigurationComparison) =>
    `${c.model}/${c.backend}/b${c.batch_size}${c.sequence_length === null ? '' : `/s${c.sequence_length}`}`;
  const regressed = by('regressed');
  if (regressed.length) {
    return {
      verdict: 'regressed',
      reason: `${regressed.length} of ${configurations.length} matched configurations regressed: ${regressed
        .map((c) => `${label(c)} ${c.reason}`)
        .join('; ')}`,
    };
  }
  if (configurations.length === 0) {
    return {
      verdict: 'inconclusive',
      reason:
        unmatched.length === 0
          ? 'no configurations to compare'
          : `no configuration of the baseline matches one of the candidate by model content, backend, precision, batch and sequence (${unmatched.length} unmatched)`,
    };
  }
  const inconclusive = by('inconclusive');
  if (inconclusive.length || unmatched.length) {
    const parts: string[] = [];
    if (inconclusive.length)
      parts.push(
        `${inconclusive.length} of ${configurations.length} matched configurations are inconclusive`,
      );
    if (unmatched.length) parts.push(`${unmatched.length} configurations have no measured counterpart`);
    return { verdict: 'inconclusive', reason: `${parts.join(' and ')}; see each configuration's reason` };
  }
  const improved = by('improved');
  if (improved.length) {
    return {
      verdict: 'improved',
      reason: `${improved.length} of ${configurations.length} configurations improved, the rest are unchanged`,
    };
  }
  return {
    verdict: 'unchanged',
    reason: `all ${configurations.length} configurations are within the threshold`,
  };
}

/**
 * Verdict per matched configuration from the between-round spread of each run (unpaired: two runs
 * are separate experiments), and overall: `regressed` if any configuration regressed, else
 * `inconclusive` if any is inconclusive or has no counterpart (an unmatched configuration never
 * passes as unchanged), else `improved` if any improved, else `unchanged`.
 */
export function compareRuns(
  baseline: BenchmarkResult,
  candidate: BenchmarkResult,
  opts: CompareOptions = {},
): ComparisonResult {
  const { threshold, confidence, statistic, runNoiseCv } = options(opts);

  // Content match first; a side without content ids falls back to names.
  const byContent = new Map<string, ConfigurationResult>();
  const byName = new Map<string, ConfigurationResult>();
  for (const c of candidate.configurations) {
    if (!byContent.has(contentKey(c))) byContent.set(contentKey(c), c);
    if (!byName.has(nameKey(c))) byName.set(nameKey(c), c);
  }
  const used = new Set<ConfigurationResult>();
  const seen = new Set<string>();
  const configurations: ConfigurationComparison[] = [];
  const unmatched: UnmatchedConfiguration[] = [];

  for (const b of baseline.configurations) {
    const k = contentKey(b);
    if (seen.has(k)) continue;
    seen.add(k);
    let c = byContent.get(k);
    if (c && used.has(c)) c = undefined;
    if (!c && !b.model_id) {
      const n = byName.get(nameKey(b));
      if (n && !n.model_id && !used.has(n)) c = n;
    }
    if (!c) {
      const sameName = byName.get(nameKey(b));
      const hint =
        sameName && sameName.model_id && b.model_id && sameName.model_id !== b.model_id
          ? ` (the candidate's ${b.model} has other content: ${sameName.model_id})`
          : '';
      unmatched.push({
        side: 'baseline',
        ...where(b),
        reason: `no configuration of the candidate has this model content, backend, precision, batch and sequence${hint}`,
      });
      continue;
    }
    used.add(c);
    if (!comparable(b) || !comparable(c)) {
      const side = !comparable(b) && !comparable(c) ? 'both' : !comparable(b) ? 'baseline' : 'candidate';
      const bad = side === 'candidate' ? c : b;
      unmatched.push({
        side,
        ...where(b),
        reason: `not measured on the ${side === 'both' ? 'baseline nor the candidate' : side}: ${bad.status}${bad.reason ? ` (${bad.reason})` : ''}`,
      });
      continue;
    }
    const bm = roundValues(b, statistic);
    const cm = roundValues(c, statistic);
    const { noise, used: runNoise } = runNoiseFor(b, bm, cm, runNoiseCv, opts.history, statistic);
    const interval = unpairedRatio(bm, cm, confidence, noise);
    const decision = decide(interval, threshold);
    const reason =
      interval || (bm.length >= 2 && cm.length >= 2)
        ? decision.reason
        : `${decision.reason} (baseline ${bm.length} round${bm.length === 1 ? '' : 's'}, candidate ${cm.length}: a run stored before rounds existed counts as one)`;
    configurations.push({
      ...where(b),
      ...(c.model !== b.model ? { candidate_model: c.model } : {}),
      model_id: b.model_id && b.model_id === c.model_id ? b.model_id : null,
      baseline_median_ms: percentile(b.latencies_ms, 0.5),
      candidate_median_ms: percentile(c.latencies_ms, 0.5),
      ratio: interval?.ratio ?? null,
      ratio_ci: ci(interval),
      relative_change: interval ? interval.ratio - 1 : null,
      interval: interval ?? null,
      baseline_rounds: bm.length,
      candidate_rounds: cm.length,
      baseline_noise_cv: noiseCv(bm),
      candidate_noise_cv: noiseCv(cm),
      run_noise: runNoise,
      verdict: decision.verdict,
      reason,
      rounds_needed: decision.rounds_needed,
    });
  }
  for (const c of candidate.configurations) {
    if (used.has(c)) continue;
    const k = contentKey(c);
    if (seen.has(`candidate:${k}`)) continue;
    seen.add(`candidate:${k}`);
    unmatched.push({
      side: 'candidate',
      ...where(c),
      reason:
        'no configuration of the baseline has this model content, backend, precision, batch and sequence',
    });
  }

  const { verdict, reason } = overall(configurations, unmatched);
  return {
    threshold,
    confidence,
    statistic,
    verdict,
    reason,
    configurations,
    unmatched,
    baseline: { started_at: baseline.started_at, git_commit: baseline.environment?.git_commit ?? null },
    candidate: { started_at: candidate.started_at, git_commit: candidate.environment?.git_commit ?? null },
  };
}

/**
 * Paired ratios inside one run whose configurations were measured round by round side by side: with
 * several models, each later model against the first (same backend, precision, batch, sequence); with
 * several backends, each later backend against the first (same model, batch, sequence).
 */
export function pairedComparisons(
  configurations: readonly ConfigurationResult[],
  opts: CompareOptions = {},
): PairedComparison[] {
  const { threshold, confidence, statistic } = options(opts);
  const ok = configurations.filter(comparable);
  const models = [...new Set(configurations.map((c) => c.model))];
  const backends = [...new Set(configurations.map((c) => c.backend))];
  const out: PairedComparison[] = [];
  const pair = (b: ConfigurationResult, c: ConfigurationResult, varies: string[]) => {
    const bm = roundValues(b, statistic);
    const cm = roundValues(c, statistic);
    const interval = pairedRatio(bm, cm, confidence);
    const decision = decide(interval, threshold);
    out.push({
      baseline_label: b.label,
      candidate_label: c.label,
      varies,
      baseline_median_ms: percentile(b.latencies_ms, 0.5),
      candidate_median_ms: percentile(c.latencies_ms, 0.5),
      ratio: interval?.ratio ?? null,
      ratio_ci: ci(interval),
      confidence,
      threshold,
      statistic,
      rounds: Math.min(bm.length, cm.length),
      verdict: decision.verdict,
      reason: interval
        ? decision.reason
        : bm.length !== cm.length
          ? `the two were measured in different numbers of rounds (${bm.length} and ${cm.length}), so they cannot be paired`
          : decision.reason,
      rounds_needed: decision.rounds_needed,
    });
  };
  const same = (a: ConfigurationResult, b: ConfigurationResult, fields: (keyof ConfigurationResult)[]) =>
    fields.every((f) => a[f] === b[f]);
  if (models.length > 1) {
    for (const b of ok.filter((c) => c.model === models[0])) {
      for (const c of ok) {
        if (c.model !== models[0] && same(b, c, ['backend', 'precision', 'batch_size', 'sequence_length']))
          pair(b, c, ['model']);
      }
    }
  }
  if (backends.length > 1) {
    for (const b of ok.filter((c) => c.backend === backends[0])) {
      for (const c of ok) {
        if (c.backend !== backends[0] && same(b, c, ['model', 'precision', 'batch_size', 'sequence_length']))
          pair(b, c, ['backend']);
      }
    }
  }
  return out;
}
