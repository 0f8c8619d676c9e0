/** compare <baseline> <candidate>: the server's rank-test verdict per configuration. */
import { CliContext, EXIT } from '../context';
import { fixed, table } from '../progress';

interface ComparedRow {
  model?: string;
  backend?: string;
  batch_size?: number;
  sequence_length?: number | null;
  baseline_median_ms?: number;
  candidate_median_ms?: number;
  relative_change?: number;
  p_value?: number;
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
        ['model', 'backend', 'batch', 'seq', 'baseline ms', 'candidate ms', 'change %', 'p', 'verdict'],
        (c.configurations as ComparedRow[]).map((r) => [
          r.model,
          r.backend,
          r.batch_size,
          r.sequence_length,
          fixed(r.baseline_median_ms, 3),
          fixed(r.candidate_median_ms, 3),
          fixed((r.relative_change ?? NaN) * 100, 1),
          fixed(r.p_value, 4),
          r.verdict,
        ]),
      ),
    );
    if (c.unmatched.length) ctx.out(`${c.unmatched.length} configuration(s) in only one run`);
    ctx.out(`verdict: ${c.verdict} (threshold ${c.threshold}, alpha ${c.alpha})`);
  }
  return opts.failOnRegression && c.verdict === 'regressed' ? EXIT.FAILED : EXIT.OK;
}
