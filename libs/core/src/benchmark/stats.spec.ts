import {
  coefficientOfVariation,
  mannWhitneyU,
  medianCi,
  medianCiRanks,
  normalUpperTail,
  percentile,
  summarize,
  windowedCv,
} from './stats';

describe('percentiles (Hyndman & Fan type 7, linear interpolation)', () => {
  // Worked by hand on x = (15, 20, 35, 40, 50), given unsorted: h = (n - 1) p = 4p.
  //   p50: h = 2    -> x[2] = 35
  //   p90: h = 3.6  -> 40 + 0.6 * (50 - 40) = 46
  //   p95: h = 3.8  -> 40 + 0.8 * 10 = 48
  //   p99: h = 3.96 -> 40 + 0.96 * 10 = 49.6
  //   mean = 160 / 5 = 32; deviations -17, -12, 3, 8, 18; squares sum 830; s^2 = 830 / 4 = 207.5
  const data = [40, 15, 50, 35, 20];

  it('matches the hand-computed values', () => {
    const s = summarize(data);
    expect(s.count).toBe(5);
    expect(s.p50).toBe(35);
    expect(s.p90).toBeCloseTo(46, 12);
    expect(s.p95).toBeCloseTo(48, 12);
    expect(s.p99).toBeCloseTo(49.6, 12);
    expect(s.min).toBe(15);
    expect(s.max).toBe(50);
    expect(s.mean).toBe(32);
    expect(s.total).toBe(160);
    expect(s.stdev).toBeCloseTo(Math.sqrt(207.5), 12);
    expect(s.cv).toBeCloseTo(Math.sqrt(207.5) / 32, 12);
    expect(s.cv_percent).toBeCloseTo((100 * Math.sqrt(207.5)) / 32, 10);
  });

  it('interpolates on 1..10 as R quantile(1:10, c(.5, .9)) does: 5.5 and 9.1', () => {
    const xs = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
    expect(percentile(xs, 0.5)).toBe(5.5);
    expect(percentile(xs, 0.9)).toBeCloseTo(9.1, 12);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile(xs, 1)).toBe(10);
  });

  it('sorts numerically, not as strings', () => {
    expect(summarize([100, 9, 20]).p50).toBe(20);
  });

  it('rejects empty samples and bad p', () => {
    expect(() => summarize([])).toThrow(RangeError);
    expect(() => percentile([1, 2], 1.5)).toThrow(RangeError);
  });

  it('gives stdev 0 and cv 0 for one sample', () => {
    const s = summarize([3]);
    expect(s.stdev).toBe(0);
    expect(s.cv).toBe(0);
    expect(s.median_ci95).toMatchObject({ lower: 3, upper: 3 });
  });
});

describe('confidence interval of the median (binomial order statistics)', () => {
  // Binomial(20, 1/2): P(B <= 5) = (1 + 20 + 190 + 1140 + 4845 + 15504) / 2^20 = 21700 / 1048576 = 0.020695
  // and P(B <= 6) = 0.057659 > 0.025, so l = 6, u = 20 + 1 - 6 = 15 (Conover Table A3 lists 6 and 15),
  // coverage 1 - 2 * 0.020695 = 0.958610.
  it('n = 20 -> ranks 6 and 15, coverage 0.9586', () => {
    const r = medianCiRanks(20);
    expect(r).toMatchObject({ lower: 6, upper: 15 });
    expect(r.confidence).toBeCloseTo(1 - (2 * 21700) / 1048576, 10);
  });

  // Binomial(100, 1/2): P(B <= 39) = 0.017600, P(B <= 40) = 0.028444, so ranks 40 and 61, coverage 0.964800.
  it('n = 100 -> ranks 40 and 61, coverage 0.9648', () => {
    const r = medianCiRanks(100);
    expect(r).toMatchObject({ lower: 40, upper: 61 });
    expect(r.confidence).toBeCloseTo(1 - 2 * 0.0176001001, 8);
  });

  it('falls back to [min, max] with its lower coverage when n <= 5', () => {
    // n = 5: P(B = 0) = 1/32 = 0.03125 > 0.025, so no rank qualifies; [x(1), x(5)] covers 1 - 2/32.
    expect(medianCiRanks(5)).toEqual({ lower: 1, upper: 5, confidence: 1 - 2 / 32 });
    // n = 6: P(B = 0) = 1/64 <= 0.025 < P(B <= 1) = 7/64, so ranks 1 and 6 with coverage 1 - 2/64.
    expect(medianCiRanks(6)).toEqual({ lower: 1, upper: 6, confidence: 1 - 2 / 64 });
  });

  it('stays exact for large n (log-space sums) and brackets the median', () => {
    const r = medianCiRanks(100_000);
    // scipy.stats.binom: the largest k with P(B <= k) <= 0.025 for n = 100000 is 49689, so l = 49690.
    expect(r.lower).toBe(49_690);
    expect(r.upper).toBe(100_001 - r.lower);
    expect(r.confidence).toBeGreaterThanOrEqual(0.95);
    const sorted = Array.from({ length: 101 }, (_, i) => i);
    const ci = medianCi(sorted);
    expect(ci.lower).toBeLessThanOrEqual(50);
    expect(ci.upper).toBeGreaterThanOrEqual(50);
  });
});

describe('Mann-Whitney U', () => {
  // Worked by hand. A = (19, 22, 16, 29, 24), B = (20, 11, 17, 12).
  // Pooled ranks: 11B=1 12B=2 16A=3 17B=4 19A=5 20B=6 22A=7 24A=8 29A=9.
  // R_A = 3 + 5 + 7 + 8 + 9 = 32, U_A = 32 - 5*6/2 = 17, U_B = 20 - 17 = 3.
  // Exact null for (5, 4): C(9, 4) = 126 arrangements; counts of U = 0, 1, 2, 3 are 1, 1, 2, 3
  // (partitions of u into at most 4 parts of size <= 5), so P(U <= 3) = 7/126 and the two-sided
  // p = 14/126 = 0.1111 (scipy.stats.mannwhitneyu(method='exact') agrees: U = 17, p = 0.1111).
  it('exact distribution, no ties', () => {
    const r = mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12]);
    expect(r.method).toBe('exact');
    expect(r.u1).toBe(17);
    expect(r.u2).toBe(3);
    expect(r.u).toBe(3);
    expect(r.p_value).toBeCloseTo(14 / 126, 12);
  });

  // Worked by hand with ties. A = (1, 2, 2, 3, 4), B = (2, 3, 5, 6, 6).
  // Ranks: 1 -> 1; the three 2s share (2+3+4)/3 = 3; the two 3s share 5.5; 4 -> 7; 5 -> 8; the two 6s 9.5.
  // R_A = 1 + 3 + 3 + 5.5 + 7 = 19.5, U_A = 19.5 - 15 = 4.5, U_B = 20.5, mu = 12.5.
  // Tie term sum(t^3 - t) = 24 + 6 + 6 = 36; sigma^2 = 25/12 * (11 - 36/90) = 22.083333.
  // z = (|4.5 - 12.5| - 0.5) / sqrt(22.083333) = 7.5 / 4.699291 = 1.595986; p = 2 Q(z) = 0.110492
  // (scipy.stats.mannwhitneyu(method='asymptotic', use_continuity=True) gives 0.11049202).
  it('normal approximation with tie and continuity corrections', () => {
    const r = mannWhitneyU([1, 2, 2, 3, 4], [2, 3, 5, 6, 6]);
    expect(r.method).toBe('normal');
    expect(r.ties).toBe(true);
    expect(r.u1).toBe(4.5);
    expect(r.u2).toBe(20.5);
    expect(r.z).toBeCloseTo(7.5 / Math.sqrt((25 / 12) * (11 - 36 / 90)), 10);
    expect(r.p_value).toBeCloseTo(0.110492, 5);
  });

  it('is symmetric in its samples and gives p = 1 for identical constant samples', () => {
    const a = [5, 7, 9, 11, 13, 15];
    const b = [6, 8, 10, 30, 40, 50, 60];
    expect(mannWhitneyU(a, b).p_value).toBeCloseTo(mannWhitneyU(b, a).p_value, 12);
    expect(mannWhitneyU([1, 1, 1], [1, 1, 1]).p_value).toBe(1);
  });

  it('separates clearly shifted large samples and not identical ones', () => {
    const base = Array.from({ length: 200 }, (_, i) => 10 + (i % 17) * 0.1);
    const slower = base.map((v) => v * 1.5);
    const far = mannWhitneyU(base, slower);
    expect(far.method).toBe('normal');
    expect(far.u).toBe(0);
    expect(far.p_value).toBeLessThan(1e-10);
    expect(mannWhitneyU(base, [...base]).p_value).toBeGreaterThan(0.9);
  });

  it('normal tail matches tables: Q(1.96) = 0.0250, Q(0) = 0.5, Q(3) = 0.00135', () => {
    expect(normalUpperTail(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalUpperTail(0)).toBeCloseTo(0.5, 7);
    expect(normalUpperTail(3)).toBeCloseTo(0.0013499, 6);
  });
});

describe('windowedCv (warm-up steadiness)', () => {
  it('is undefined until enough windows exist, then the CV of window medians', () => {
    expect(windowedCv([1, 2, 3], 2, 2)).toBeUndefined();
    // Windows of 4: medians 10, 20, 10 -> mean 40/3, sample stdev sqrt(100/3), cv = 0.4330127.
    const xs = [99, 10, 10, 10, 10, 20, 20, 20, 20, 10, 10, 10, 10];
    expect(windowedCv(xs, 4, 3)).toBeCloseTo(Math.sqrt(100 / 3) / (40 / 3), 10);
    expect(windowedCv([5, 5, 5, 5, 5, 5], 2, 3)).toBe(0);
    expect(coefficientOfVariation([10, 20, 10])).toBeCloseTo(Math.sqrt(100 / 3) / (40 / 3), 10);
  });
});
