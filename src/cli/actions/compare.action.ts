/** compare <baseline> <candidate>: the server's verdict per configuration, with the ratio's interval. */
import { CliContext, EXIT } from '../context';
import { fixed, table } from '../progress';

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
  verdict?: string;
}

export async function compareAction(
  ctx: CliContext,
  baseline: string,
  candidate: string,
  opts: { failOnRegression?: boolean; threshold?: number; json?: boolean },
): Promise<number> {
  const c = await ctx.client.compareBenchmarks({ baseline, candidate, threshold: opts.threshold });
  if (opts.json) ctx.out(JSON.stringify(c, null, 2));
  else {
    ctx.out(
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
          r.ratio_ci ? `${fixed(r.ratio_ci[0], 3)}..${fixed(r.ratio_ci[1], 3)}` : '-',
          `${fixed((r.baseline_noise_cv ?? NaN) * 100, 1)}/${fixed((r.candidate_noise_cv ?? NaN) * 100, 1)}`,
          r.verdict,
        ]),
      ),
    );
    if (c.unmatched.length) ctx.out(`${c.unmatched.length} configuration(s) in only one run`);
    ctx.out(`verdict: ${c.verdict} (threshold ${c.threshold}, confidence ${c.confidence}): ${c.reason}`);
  }
  return opts.failOnRegression && c.verdict === 'regressed' ? EXIT.FAILED : EXIT.OK;
}
