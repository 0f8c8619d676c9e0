/**
 * Baseline vs candidate: per matching configuration (same model, backend, batch and sequence length),
 * the change of the median latency and a Mann-Whitney U test on the raw latencies.
 */
import { CoreError, ErrorCode } from '../errors';
import { mannWhitneyU, percentile } from './stats';
import type {
  BenchmarkResult,
  ComparisonResult,
  ComparisonVerdict,
  ConfigurationComparison,
  ConfigurationResult,
  UnmatchedConfiguration,
} from './types';

export interface CompareOptions {
  /** Smallest relative change of the median that counts (0.05 = 5%). Default 0.05. */
  threshold?: number;
  /** Significance level of the two-sided Mann-Whitney U test. Default 0.01. */
  alpha?: number;
}

function key(c: Pick<ConfigurationResult, 'model' | 'backend' | 'batch_size' | 'sequence_length'>): string {
  return JSON.stringify([c.model, c.backend, c.batch_size, c.sequence_length]);
}

function comparable(c: ConfigurationResult): boolean {
  return c.status === 'ok' && c.latencies_ms.length > 0;
}

/**
 * Verdict per configuration: `improved` when the candidate's median is lower by more than `threshold`
 * (relative) AND p < alpha; `regressed` when higher by more than `threshold` AND p < alpha; otherwise
 * `unchanged`. Overall: `regressed` if any configuration regressed, else `improved` if any improved,
 * else `unchanged`. Configurations present on one side only, or not `ok` on either side, are listed in
 * `unmatched` and do not count toward the verdict.
 */
export function compareRuns(
  baseline: BenchmarkResult,
  candidate: BenchmarkResult,
  options: CompareOptions = {},
): ComparisonResult {
  const threshold = options.threshold ?? 0.05;
  const alpha = options.alpha ?? 0.01;
  if (!(threshold >= 0) || !Number.isFinite(threshold)) {
    throw new CoreError(ErrorCode.VALIDATION, 'threshold must be a finite number >= 0', { threshold });
  }
  if (!(alpha > 0 && alpha < 1))
    throw new CoreError(ErrorCode.VALIDATION, 'alpha must be in (0, 1)', { alpha });

  const cand = new Map<string, ConfigurationResult>();
  for (const c of candidate.configurations) if (!cand.has(key(c))) cand.set(key(c), c);
  const seen = new Set<string>();
  const configurations: ConfigurationComparison[] = [];
  const unmatched: UnmatchedConfiguration[] = [];
  const where = (c: ConfigurationResult) => ({
    model: c.model,
    backend: c.backend,
    batch_size: c.batch_size,
    sequence_length: c.sequence_length,
  });

  for (const b of baseline.configurations) {
    const k = key(b);
    if (seen.has(k)) continue;
    seen.add(k);
    const c = cand.get(k);
    if (!c) {
      unmatched.push({ side: 'baseline', ...where(b), reason: 'no matching configuration in the candidate' });
      continue;
    }
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
    const bm = percentile(b.latencies_ms, 0.5);
    const cm = percentile(c.latencies_ms, 0.5);
    const change = (cm - bm) / bm;
    const test = mannWhitneyU(b.latencies_ms, c.latencies_ms);
    let verdict: ComparisonVerdict = 'unchanged';
    if (test.p_value < alpha && change < -threshold) verdict = 'improved';
    else if (test.p_value < alpha && change > threshold) verdict = 'regressed';
    configurations.push({
      ...where(b),
      baseline_median_ms: bm,
      candidate_median_ms: cm,
      relative_change: change,
      p_value: test.p_value,
      test: { u: test.u, u1: test.u1, u2: test.u2, n1: test.n1, n2: test.n2, z: test.z, method: test.method },
      verdict,
    });
  }
  for (const c of candidate.configurations) {
    if (!seen.has(key(c))) {
      seen.add(key(c));
      unmatched.push({ side: 'candidate', ...where(c), reason: 'no matching configuration in the baseline' });
    }
  }

  const verdict: ComparisonVerdict = configurations.some((c) => c.verdict === 'regressed')
    ? 'regressed'
    : configurations.some((c) => c.verdict === 'improved')
      ? 'improved'
      : 'unchanged';
  return {
    threshold,
    alpha,
    verdict,
    configurations,
    unmatched,
    baseline: { started_at: baseline.started_at, git_commit: baseline.environment?.git_commit ?? null },
    candidate: { started_at: candidate.started_at, git_commit: candidate.environment?.git_commit ?? null },
  };
}
