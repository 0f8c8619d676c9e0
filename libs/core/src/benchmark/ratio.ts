/**
 * Intervals of a latency ratio (candidate / baseline) from per-round medians, and the verdict they
 * support. Pure functions, no I/O.
 *
 * Why rounds: iterations of one run share that run's machine state (other load, clock, cache and
 * memory placement), so thousands of iterations make any drift "significant". The unit of
 * replication is the round (Kalibera & Jones, "Rigorous Benchmarking in Reasonable Time", 2013): a
 * round's median is one observation, and the spread of round medians is what the interval uses.
 *
 * Method (both cases work on log round medians, so the interval is of a ratio of geometric means and
 * is symmetric in log space: a 2x slowdown and a 2x speedup are equally far from 1):
 * - Two separate runs (`unpaired`): Welch's t interval of mean(log c) - mean(log b), with the
 *   Welch-Satterthwaite degrees of freedom, exponentiated. Better behaved than a bootstrap at the
 *   5-10 rounds a benchmark affords (a percentile bootstrap of 5 values under-covers badly).
 *   Rounds of one run still share that run's session and the machine's state of those seconds, so
 *   two runs differ by more than their rounds say (measured here: round medians within 1-3% of each
 *   other, runs of the same model up to 12% apart). Kalibera & Jones' remedy is a variance component
 *   per level: a between-run component sigma_run (log scale, one run's offset beyond its rounds)
 *   adds 2 * sigma_run^2 to the variance of the log ratio. A single run cannot estimate it, so it
 *   comes from earlier runs of the same configuration (`history`: sigma_run^2 = max(0, s^2 - w),
 *   s^2 the variance of their log run values, w the within-run part of one run's variance, i.e.
 *   the total becomes max(rounds' variance, 2 s^2)), or from a documented prior, or the request.
 * - One run that measured both, interleaved round by round (`paired`, duet-style): the t interval of
 *   the mean of log(c_r / b_r) over rounds, n - 1 degrees of freedom. Drift of the machine that
 *   affects both members of a round cancels in the pair, so this interval is usually much narrower.
 *
 * Verdict with threshold t (a relative change, 0.05 = 5%), bounds 1 / (1 + t) and 1 + t:
 * - `regressed`: the whole interval lies above 1 + t; `improved`: the whole interval lies below 1 / (1 + t);
 * - `unchanged`: the whole interval lies within [1 / (1 + t), 1 + t];
 * - `inconclusive`: the interval straddles a bound (the machine was too noisy for this threshold with
 *   this many rounds), or there are too few rounds; `rounds_needed` estimates how many rounds per side
 *   would make the interval narrow enough, assuming the same spread and point estimate.
 */
import { jStat } from 'jstat';

export type RatioVerdict = 'improved' | 'regressed' | 'unchanged' | 'inconclusive';

export interface RatioInterval {
  /** exp(mean log candidate - mean log baseline): the ratio of the geometric means of round medians. */
  ratio: number;
  lower: number;
  upper: number;
  /** Two-sided confidence level of [lower, upper]. */
  confidence: number;
  method: 'welch-log' | 'paired-log';
  /** Degrees of freedom of the t quantile. */
  df: number;
  /** Standard error of the log ratio. */
  se_log: number;
  /** The part of se_log^2 that comes from the between-run component (2 * sigma_run^2; 0 when paired). */
  run_var_log: number;
  n_baseline: number;
  n_candidate: number;
}

/** Between-run noise: one run's offset beyond its rounds, as a standard deviation on the log scale. */
export interface RunNoise {
  /** sigma_run (log scale, about a relative standard deviation: 0.03 = 3%). */
  sd: number;
  /** Degrees of freedom of that estimate (Infinity for a prior or a value given in the request). */
  df: number;
}

/**
 * The between-run component from earlier runs of the same configuration: `values` are those runs'
 * run-level latencies (their medians), `withinVar` the variance of one run's log value that its own
 * rounds account for. Needs at least 3 runs; returns undefined otherwise.
 */
export function runNoiseFromHistory(values: readonly number[], withinVar: number): RunNoise | undefined {
  if (values.length < 3) return undefined;
  const s2 = varianceOf(logs(values, 'earlier runs'));
  return { sd: Math.sqrt(Math.max(0, s2 - Math.max(0, withinVar))), df: values.length - 1 };
}

export interface RatioDecision {
  verdict: RatioVerdict;
  /** One sentence: the interval against the bounds. */
  reason: string;
  /** Rounds per side that would likely decide an inconclusive comparison; null when decided or hopeless. */
  rounds_needed: number | null;
}

/** Rounds per side beyond which `rounds_needed` gives up (the estimate sits on a bound). */
export const MAX_ROUNDS_NEEDED = 1000;

function meanOf(v: readonly number[]): number {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

function varianceOf(v: readonly number[]): number {
  if (v.length < 2) return 0;
  const m = meanOf(v);
  let s = 0;
  for (const x of v) s += (x - m) * (x - m);
  return s / (v.length - 1);
}

function logs(values: readonly number[], what: string): number[] {
  return values.map((v) => {
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${what} must be finite and > 0, got ${v}`);
    return Math.log(v);
  });
}

function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1))
    throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
}

/** Student t quantile (two-sided level `confidence`); the normal one when df is not finite. */
export function tQuantile(confidence: number, df: number): number {
  checkConfidence(confidence);
  const p = 1 - (1 - confidence) / 2;
  if (!Number.isFinite(df)) return jStat.normal.inv(p, 0, 1);
  return jStat.studentt.inv(p, df);
}

/** The variance of one run's mean log value that its own rounds account for (for runNoiseFromHistory). */
export function withinRunVariance(baseline: readonly number[], candidate: readonly number[]): number {
  const parts = [baseline, candidate]
    .filter((v) => v.length >= 2)
    .map((v) => varianceOf(logs(v, 'round medians')) / v.length);
  return parts.length ? meanOf(parts) : 0;
}

/**
 * Ratio interval for two independent sets of round medians (two runs), widened by the between-run
 * component when `runNoise` is given. Needs at least 2 rounds on each side; returns undefined otherwise.
 */
export function unpairedRatio(
  baseline: readonly number[],
  candidate: readonly number[],
  confidence = 0.95,
  runNoise?: RunNoise,
): RatioInterval | undefined {
  checkConfidence(confidence);
  const m = baseline.length;
  const n = candidate.length;
  if (m < 2 || n < 2) return undefined;
  if (runNoise && !(runNoise.sd >= 0 && Number.isFinite(runNoise.sd) && runNoise.df > 0)) {
    throw new RangeError(`run noise must be a finite sd >= 0 with df > 0, got ${JSON.stringify(runNoise)}`);
  }
  const lb = logs(baseline, 'baseline round medians');
  const lc = logs(candidate, 'candidate round medians');
  const d = meanOf(lc) - meanOf(lb);
  const vb = varianceOf(lb) / m;
  const vc = varianceOf(lc) / n;
  const vr = runNoise ? 2 * runNoise.sd ** 2 : 0;
  const se = Math.sqrt(vb + vc + vr);
  // Welch-Satterthwaite over the three components (a prior's df is infinite: it adds no term);
  // when every variance is 0 the interval is a point and df does not matter.
  const rTerm = vr > 0 && Number.isFinite(runNoise!.df) ? vr ** 2 / runNoise!.df : 0;
  const denominator = vb ** 2 / (m - 1) + vc ** 2 / (n - 1) + rTerm;
  const df = se === 0 ? m + n - 2 : denominator === 0 ? Infinity : (vb + vc + vr) ** 2 / denominator;
  const q = tQuantile(confidence, df);
  return {
    ratio: Math.exp(d),
    lower: Math.exp(d - q * se),
    upper: Math.exp(d + q * se),
    confidence,
    method: 'welch-log',
    df,
    se_log: se,
    run_var_log: vr,
    n_baseline: m,
    n_candidate: n,
  };
}

/**
 * Ratio interval for round medians measured in the same rounds (baseline[r] and candidate[r] side by
 * side in round r). Needs at least 2 rounds of equal count; returns undefined otherwise.
 */
export function pairedRatio(
  baseline: readonly number[],
  candidate: readonly number[],
  confidence = 0.95,
): RatioInterval | undefined {
  checkConfidence(confidence);
  const n = baseline.length;
  if (n < 2 || candidate.length !== n) return undefined;
  const lb = logs(baseline, 'baseline round medians');
  const lc = logs(candidate, 'candidate round medians');
  const diffs = lc.map((c, i) => c - lb[i]);
  const d = meanOf(diffs);
  const se = Math.sqrt(varianceOf(diffs) / n);
  const df = n - 1;
  const q = tQuantile(confidence, df);
  return {
    ratio: Math.exp(d),
    lower: Math.exp(d - q * se),
    upper: Math.exp(d + q * se),
    confidence,
    method: 'paired-log',
    df,
    se_log: se,
    run_var_log: 0,
    n_baseline: n,
    n_candidate: n,
  };
}

function pct(x: number): string {
  const v = (x - 1) * 100;
  return `${v >= 0 ? '+' : ''}${v.toFixed(1)}%`;
}

/** `x1.23 [1.15, 1.31]` */
export function formatInterval(i: Pick<RatioInterval, 'ratio' | 'lower' | 'upper'>): string {
  return `x${i.ratio.toFixed(3)} [${i.lower.toFixed(3)}, ${i.upper.toFixed(3)}]`;
}

/**
 * Rounds per side for which the half-width of the log interval would fit within `allowed` (log
 * units), at the observed spread: the smallest n with q(df(n)) * s * sqrt(k / n) <= allowed, where k
 * is 2 for unpaired (two sides of n each) and 1 for paired.
 */
/**
 * Whether the between-run part of the interval alone is wider than `allowed` (log units): more rounds
 * shrink only the rounds' part, so then no number of rounds decides.
 */
function runPartExceeds(interval: RatioInterval, allowed: number): boolean {
  const runVar = interval.run_var_log ?? 0;
  return runVar > 0 && tQuantile(interval.confidence, Infinity) * Math.sqrt(runVar) >= allowed;
}

/** Call only when {@link runPartExceeds} is false. */
function roundsFor(interval: RatioInterval, allowed: number): number | null {
  if (!(allowed > 0)) return null;
  const k = interval.method === 'paired-log' ? 1 : 2;
  const runVar = interval.run_var_log ?? 0;
  const roundVar = Math.max(0, interval.se_log ** 2 - runVar);
  // Per-round standard deviation of the log values (pooled for unpaired), from the standard error.
  const s =
    interval.method === 'paired-log'
      ? Math.sqrt(roundVar * interval.n_baseline)
      : Math.sqrt(roundVar / (1 / interval.n_baseline + 1 / interval.n_candidate));
  if (s === 0) return Math.max(interval.n_baseline, interval.n_candidate);
  for (
    let n = Math.max(2, Math.min(interval.n_baseline, interval.n_candidate));
    n <= MAX_ROUNDS_NEEDED;
    n++
  ) {
    const df = interval.method === 'paired-log' ? n - 1 : 2 * n - 2;
    if (tQuantile(interval.confidence, df) * Math.sqrt((s * s * k) / n + runVar) <= allowed) return n;
  }
  return null;
}

/** The verdict an interval supports against `threshold` (see the file header). */
export function decide(interval: RatioInterval | undefined, threshold: number): RatioDecision {
  if (!(threshold >= 0) || !Number.isFinite(threshold)) {
    throw new RangeError(`threshold must be a finite number >= 0, got ${threshold}`);
  }
  if (!interval) {
    return {
      verdict: 'inconclusive',
      reason: 'fewer than 2 rounds on a side: the between-round spread, and so the noise, is unknown',
      rounds_needed: null,
    };
  }
  const up = 1 + threshold;
  const down = 1 / up;
  const at = `${formatInterval(interval)} at ${Math.round(interval.confidence * 100)}%`;
  const bounds = `[${down.toFixed(3)}, ${up.toFixed(3)}] (threshold ${(threshold * 100).toFixed(1)}%)`;
  if (interval.lower > up) {
    return {
      verdict: 'regressed',
      reason: `slower: ${at} lies wholly above ${up.toFixed(3)}`,
      rounds_needed: null,
    };
  }
  if (interval.upper < down) {
    return {
      verdict: 'improved',
      reason: `faster: ${at} lies wholly below ${down.toFixed(3)}`,
      rounds_needed: null,
    };
  }
  if (interval.lower >= down && interval.upper <= up) {
    return { verdict: 'unchanged', reason: `within noise: ${at} lies within ${bounds}`, rounds_needed: null };
  }
  // Straddles a bound: how narrow would it have to be to decide either way at this point estimate?
  const d = Math.abs(Math.log(interval.ratio));
  const t = Math.log(up);
  const allowed = Math.abs(d - t);
  const runBound = runPartExceeds(interval, allowed);
  const needed = runBound ? null : roundsFor(interval, allowed);
  const change = pct(interval.ratio);
  return {
    verdict: 'inconclusive',
    reason:
      `too noisy to tell: ${at} (change ${change}) straddles a bound of ${bounds}` +
      (needed !== null
        ? `; about ${needed} rounds per side would likely decide`
        : runBound
          ? '; the between-run noise alone is too wide for this threshold, so more rounds cannot decide: measure both side by side in one run (paired), or raise the threshold'
          : '; the estimate sits on the threshold, so more rounds are unlikely to decide'),
    rounds_needed: needed,
  };
}
