/**
 * Descriptive and inferential statistics for latency samples. Pure functions, no I/O.
 *
 * Definitions used throughout:
 * - Percentiles: linear interpolation between order statistics, Hyndman & Fan type 7 (the default of
 *   R's `quantile`, NumPy's `percentile` and Excel's `PERCENTILE.INC`): on the ascending sample
 *   x[0..n-1], h = (n - 1) * p, q = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]).
 * - Standard deviation: the sample one (divisor n - 1); 0 for n < 2.
 * - Coefficient of variation: stdev / mean (a fraction; `cv_percent` is the same times 100).
 * - 95% confidence interval of the median: distribution-free, by order statistics. With
 *   B ~ Binomial(n, 1/2), the interval is [x(l), x(u)] (1-based ranks) where l is the largest rank with
 *   P(B <= l - 1) <= 0.025 and u = n + 1 - l. Its exact coverage is 1 - 2 P(B <= l - 1) >= 0.95.
 *   (Conover, Practical Nonparametric Statistics, 3rd ed., section 3.2.) When n is too small for any
 *   rank to qualify (n <= 5), the interval is [min, max] and `confidence` reports its lower coverage.
 * - Mann-Whitney U: see {@link mannWhitneyU}.
 */

export interface MedianCi {
  /** Value at the lower rank (ms for latencies). */
  lower: number;
  /** Value at the upper rank. */
  upper: number;
  /** 1-based ranks of the order statistics that bound the interval. */
  lower_rank: number;
  upper_rank: number;
  /** Exact coverage of the interval: 1 - 2 P(B <= lower_rank - 1), B ~ Binomial(n, 1/2). */
  confidence: number;
}

export interface SampleStats {
  count: number;
  mean: number;
  /** Median (type-7 percentile at 0.5). */
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
  /** Sample standard deviation (n - 1). */
  stdev: number;
  /** stdev / mean, a fraction. */
  cv: number;
  /** stdev / mean * 100. */
  cv_percent: number;
  /** Sum of all samples. */
  total: number;
  /** 95% confidence interval of the median by order statistics. */
  median_ci95: MedianCi;
}

/** Ascending copy (numeric sort, not lexicographic). */
export function sortedAscending(values: readonly number[]): number[] {
  return Array.from(Float64Array.from(values).sort());
}

/** Type-7 percentile of an ascending array; `p` in [0, 1]. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) throw new RangeError('percentile of an empty sample');
  if (!(p >= 0 && p <= 1)) throw new RangeError(`percentile p must be in [0, 1], got ${p}`);
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Type-7 percentile of an unsorted sample; `p` in [0, 1]. */
export function percentile(values: readonly number[], p: number): number {
  return percentileSorted(sortedAscending(values), p);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('mean of an empty sample');
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Sample standard deviation (divisor n - 1), computed in two passes; 0 when n < 2. */
export function stdev(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const m = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - m) * (v - m);
  return Math.sqrt(ss / (n - 1));
}

/** stdev / mean; 0 when the mean is 0. */
export function coefficientOfVariation(values: readonly number[]): number {
  const m = mean(values);
  return m === 0 ? 0 : stdev(values) / m;
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

/**
 * The 1-based ranks [l, u] of the order-statistic confidence interval of the median (see the file
 * header), and its exact coverage. Exact binomial sums in log space, so any n works.
 */
export function medianCiRanks(n: number, level = 0.95): { lower: number; upper: number; confidence: number } {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  const tail = (1 - level) / 2;
  const logTail = Math.log(tail);
  // logCdf(k) = log P(B <= k); walk k upward while the cdf stays within the tail.
  let logPmf = n * Math.log(0.5); // P(B = 0)
  let logCdf = logPmf;
  let best = -1; // largest k with P(B <= k) <= tail
  let bestLogCdf = -Infinity;
  for (let k = 0; k < n && logCdf <= logTail; k++) {
    best = k;
    bestLogCdf = logCdf;
    logPmf += Math.log((n - k) / (k + 1));
    logCdf = logAddExp(logCdf, logPmf);
  }
  if (best < 0) {
    // No rank qualifies: [x(1), x(n)] with coverage 1 - 2 * 0.5^n.
    return { lower: 1, upper: n, confidence: 1 - 2 * Math.pow(0.5, n) };
  }
  const lower = best + 1;
  return { lower, upper: n + 1 - lower, confidence: 1 - 2 * Math.exp(bestLogCdf) };
}

export function medianCi(sorted: readonly number[], level = 0.95): MedianCi {
  const r = medianCiRanks(sorted.length, level);
  return {
    lower: sorted[r.lower - 1],
    upper: sorted[r.upper - 1],
    lower_rank: r.lower,
    upper_rank: r.upper,
    confidence: r.confidence,
  };
}

/** Every statistic in {@link SampleStats}; throws on an empty sample. */
export function summarize(values: readonly number[]): SampleStats {
  if (values.length === 0) throw new RangeError('summary of an empty sample');
  const sorted = sortedAscending(values);
  const m = mean(sorted);
  const sd = stdev(sorted);
  const cv = m === 0 ? 0 : sd / m;
  let total = 0;
  for (const v of sorted) total += v;
  return {
    count: sorted.length,
    mean: m,
    p50: percentileSorted(sorted, 0.5),
    p90: percentileSorted(sorted, 0.9),
    p95: percentileSorted(sorted, 0.95),
    p99: percentileSorted(sorted, 0.99),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    stdev: sd,
    cv,
    cv_percent: cv * 100,
    total,
    median_ci95: medianCi(sorted),
  };
}

/**
 * Steadiness over windows: the last `windows` consecutive windows of `windowSize` samples each; the
 * median of each window; the coefficient of variation (sample stdev / mean) of those medians.
 * Medians (not means) so that one preempted iteration does not reset the warm-up.
 * Returns undefined until `windows * windowSize` samples exist.
 */
export function windowedCv(samples: readonly number[], windowSize: number, windows = 3): number | undefined {
  if (windowSize < 1 || windows < 2)
    throw new RangeError('windowedCv needs windowSize >= 1 and windows >= 2');
  const need = windowSize * windows;
  if (samples.length < need) return undefined;
  const start = samples.length - need;
  const medians: number[] = [];
  for (let w = 0; w < windows; w++) {
    const slice = samples.slice(start + w * windowSize, start + (w + 1) * windowSize);
    medians.push(percentile(slice, 0.5));
  }
  return coefficientOfVariation(medians);
}

/** Standard normal upper tail Q(z) = 1 - Phi(z), accurate to ~1e-7 relative (erfc, Numerical Recipes erfcc). */
export function normalUpperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Complementary error function, Chebyshev fit with fractional error below 1.2e-7 everywhere. */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  // Horner over the Numerical Recipes coefficients, highest power first.
  const c = [
    0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196,
    1.00002368, -1.26551223,
  ];
  let poly = 0;
  for (const k of c) poly = poly * t + k;
  const r = t * Math.exp(-z * z + poly);
  return x >= 0 ? r : 2 - r;
}

export interface MannWhitneyResult {
  /** U of the first sample: the number of pairs (a, b) with a > b, ties counting 1/2. */
  u1: number;
  /** U of the second sample: n1 * n2 - u1. */
  u2: number;
  /** min(u1, u2), the statistic tables list. */
  u: number;
  n1: number;
  n2: number;
  /** Normal-approximation z (with continuity and tie corrections); present for method 'normal'. */
  z?: number;
  /** Two-sided p-value. */
  p_value: number;
  method: 'exact' | 'normal';
  /** Whether any value occurs more than once in the pooled sample. */
  ties: boolean;
}

/** Largest n1 * n2 for which the exact null distribution is enumerated (no ties only). */
const EXACT_MAX_PRODUCT = 400;

/**
 * Exact null distribution of U for sample sizes (n1, n2) without ties: counts[u] = number of the
 * C(n1 + n2, n1) arrangements with U = u, by the recurrence
 * f(m, n, u) = f(m - 1, n, u - n) + f(m, n - 1, u) (Mann & Whitney 1947).
 */
function exactUCounts(n1: number, n2: number): Float64Array {
  const maxU = n1 * n2;
  // table[m][n] as arrays of counts; build up over m + n.
  let prev: Float64Array[] = []; // prev[n] for the current m - 1
  for (let m = 0; m <= n1; m++) {
    const cur: Float64Array[] = [];
    for (let n = 0; n <= n2; n++) {
      const c = new Float64Array(maxU + 1);
      if (m === 0 || n === 0) {
        c[0] = 1;
      } else {
        const a = prev[n]; // f(m - 1, n, .)
        const b = cur[n - 1]; // f(m, n - 1, .)
        for (let u = 0; u <= m * n; u++) c[u] = (u >= n ? a[u - n] : 0) + b[u];
      }
      cur.push(c);
    }
    prev = cur;
  }
  return prev[n2];
}

/**
 * Mann-Whitney U test (Wilcoxon rank-sum), two-sided.
 * - Ranks the pooled sample, ties get the average rank; U1 = R1 - n1 (n1 + 1) / 2.
 * - Exact p-value from the null distribution of U when there are no ties and n1 * n2 <= 400:
 *   p = min(1, 2 P(U <= min(U1, U2))).
 * - Otherwise the normal approximation: mu = n1 n2 / 2,
 *   sigma^2 = n1 n2 / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1))) over tie groups of size t,
 *   z = (|U1 - mu| - 1/2) / sigma (continuity correction, floored at 0), p = 2 Q(z).
 */
export function mannWhitneyU(
  a: readonly number[],
  b: readonly number[],
  options: { exact?: boolean } = {},
): MannWhitneyResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('Mann-Whitney U needs two non-empty samples');
  const n = n1 + n2;
  const pooled: { v: number; g: 0 | 1 }[] = [];
  for (const v of a) pooled.push({ v, g: 0 });
  for (const v of b) pooled.push({ v, g: 1 });
  pooled.sort((x, y) => x.v - y.v);

  let r1 = 0;
  let tieTerm = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && pooled[j + 1].v === pooled[i].v) j++;
    const t = j - i + 1;
    const avgRank = (i + 1 + j + 1) / 2;
    for (let k = i; k <= j; k++) if (pooled[k].g === 0) r1 += avgRank;
    if (t > 1) tieTerm += t * t * t - t;
    i = j + 1;
  }
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  const u = Math.min(u1, u2);
  const ties = tieTerm > 0;

  const useExact = options.exact ?? (!ties && n1 * n2 <= EXACT_MAX_PRODUCT);
  if (useExact && !ties) {
    const counts = exactUCounts(n1, n2);
    let total = 0;
    for (const c of counts) total += c;
    let lowTail = 0;
    for (let k = 0; k <= Math.floor(u); k++) lowTail += counts[k];
    return { u1, u2, u, n1, n2, p_value: Math.min(1, (2 * lowTail) / total), method: 'exact', ties };
  }

  const mu = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) {
    // Every value identical: no evidence of a difference.
    return { u1, u2, u, n1, n2, z: 0, p_value: 1, method: 'normal', ties };
  }
  const z = Math.max(0, Math.abs(u1 - mu) - 0.5) / Math.sqrt(variance);
  return { u1, u2, u, n1, n2, z, p_value: Math.min(1, 2 * normalUpperTail(z)), method: 'normal', ties };
}
