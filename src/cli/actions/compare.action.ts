/** compare <baseline> <candidate>: the server's verdict per configuration, with the ratio's interval. */
import type { Comparison } from '../../../libs/client/src';
import { CliContext, EXIT } from '../context';
import { fixed, table } from '../progress';
import { paint } from '../term';

interface ComparedRow {
  model?: string;
  backend?: string;
  batch_size?: number;
  sequence_length?: number | null;
  baseline_median_ms?: number;
  candidate_median_ms?: number;
  ratio?: number | null;
  ratio_ci?: [number, number] | null;
  baseline_noise_cv?: number | null;
  candidate_noise_cv?: number | null;
  run_noise?: { cv: number; source: string; runs: number | null };
  verdict?: string;
}

interface UnmatchedRow {
  side?: string;
  model?: string;
  backend?: string;
  batch_size?: number;
  sequence_length?: number | null;
  reason?: string;
}

export interface CompareOptions {
  threshold?: number;
  confidence?: number;
  statistic?: 'median' | 'min';
  runNoise?: number;
  json?: boolean;
}

/** `0.950..1.050`, or `-` without an interval. */
export const interval = (ci: [number, number] | null | undefined): string =>
  ci ? `${fixed(ci[0], 3)}..${fixed(ci[1], 3)}` : '-';

/**
 * The exit code of a comparison, the CI gate: 1 only on `regressed`, `EXIT.INCONCLUSIVE` (6) when the
 * runs cannot tell (too noisy, or configurations that do not match), 0 on `unchanged` and `improved`.
 */
export function verdictExitCode(verdict: string): number {
  if (verdict === 'regressed') return EXIT.FAILED;
  if (verdict === 'inconclusive') return EXIT.INCONCLUSIVE;
  return EXIT.OK;
}

export const VERDICT_STYLE: Record<string, 'green' | 'red' | 'yellow' | undefined> = {
  improved: 'green',
  unchanged: 'green',
  regressed: 'red',
  inconclusive: 'yellow',
};

/** The comparison as a table, the unmatched configurations and the overall verdict with its reason. */
export function comparisonText(c: Comparison): string {
  const lines = [
    table(
      [
        'model',
        'backend',
        'batch',
        'seq',
        'baseline ms',
        'candidate ms',
        'ratio',
        'interval',
        'noise %',
        'verdict',
      ],
      (c.configurations as ComparedRow[]).map((r) => [
        r.model,
        r.backend,
        r.batch_size,
        r.sequence_length,
        fixed(r.baseline_median_ms, 3),
        fixed(r.candidate_median_ms, 3),
        fixed(r.ratio ?? NaN, 3),
        interval(r.ratio_ci),
        `${fixed((r.baseline_noise_cv ?? NaN) * 100, 1)}/${fixed((r.candidate_noise_cv ?? NaN) * 100, 1)}`,
        r.run_noise ? `${fixed(r.run_noise.cv * 100, 1)} ${r.run_noise.source}` : '-',
        r.verdict,
      ]),
      { style: (col, text) => (col === 9 ? VERDICT_STYLE[text] : undefined) },
    ),
  ];
  for (const u of c.unmatched as UnmatchedRow[]) {
    lines.push(
      `unmatched (${u.side}): ${u.model} ${u.backend} batch ${u.batch_size} seq ${u.sequence_length ?? '-'}: ${u.reason}`,
    );
  }
  lines.push(
    `verdict: ${VERDICT_STYLE[c.verdict] ? paint.out(VERDICT_STYLE[c.verdict]!, c.verdict) : c.verdict} (threshold ${c.threshold}, confidence ${c.confidence}, ${c.statistic} of rounds): ${c.reason}`,
  );
  return lines.join('\n');
}

export async function compareAction(
  ctx: CliContext,
  baseline: string,
  candidate: string,
  opts: CompareOptions,
): Promise<number> {
  const c = await ctx.client.compareBenchmarks({
    baseline,
    candidate,
    threshold: opts.threshold,
    confidence: opts.confidence,
    statistic: opts.statistic,
    run_noise_cv: opts.runNoise,
  });
  ctx.out(opts.json ? JSON.stringify(c, null, 2) : comparisonText(c));
  return verdictExitCode(c.verdict);
}
