/** bench <model|path>: run a benchmark, print a table (or json, csv, markdown), optionally to a file. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Backend, BenchmarkResults, Comparison, RunBenchmarkRequest } from '../../../libs/client/src';
import { CliContext, EXIT, exitForStatus, modelArgument } from '../context';
import { paint } from '../term';
import { fixed, table } from '../progress';
import { comparisonText, interval, VERDICT_STYLE, verdictExitCode } from './compare.action';

export interface BenchOptions {
  hardware: Backend['name'][];
  batchSizes: number[];
  seqLens: number[];
  minDuration?: number;
  minIterations?: number;
  format: 'table' | 'json' | 'csv' | 'markdown';
  out?: string;
  tag?: string[];
  rounds?: number;
  precision?: NonNullable<RunBenchmarkRequest['precision']>;
  baseline?: string;
  threshold?: number;
  confidence?: number;
  statistic?: 'median' | 'min';
  runNoise?: number;
  /** generate mode with this many new tokens per generation. */
  generate?: number;
}

export async function runBenchmark(
  ctx: CliContext,
  model: string | string[],
  opts: Omit<BenchOptions, 'format' | 'out'>,
): Promise<{ runId: string; results?: BenchmarkResults; exit: number }> {
  const models = (Array.isArray(model) ? model : [model]).map((m) => modelArgument(m));
  const accepted = await ctx.client.runBenchmark({
    ...(models.length === 1 ? { model_name: models[0] } : { models }),
    hardware: opts.hardware,
    batch_sizes: opts.batchSizes,
    sequence_lengths: opts.seqLens,
    ...(opts.minDuration !== undefined ? { min_duration_s: opts.minDuration } : {}),
    ...(opts.minIterations !== undefined ? { min_iterations: opts.minIterations } : {}),
    ...(opts.tag?.length ? { tags: opts.tag } : {}),
    ...(opts.rounds !== undefined ? { rounds: opts.rounds } : {}),
    ...(opts.precision ? { precision: opts.precision } : {}),
    ...(opts.baseline ? { baseline_run_id: opts.baseline } : {}),
    ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
    ...(opts.confidence !== undefined ? { confidence: opts.confidence } : {}),
    ...(opts.statistic ? { statistic: opts.statistic } : {}),
    ...(opts.runNoise !== undefined ? { run_noise_cv: opts.runNoise } : {}),
    ...(opts.generate !== undefined ? { mode: 'generate' as const, max_new_tokens: opts.generate } : {}),
  });
  ctx.info(`benchmark ${accepted.run_id} accepted: ${accepted.message}`);
  const { status, results } = await ctx.monitor<BenchmarkResults>('benchmark', accepted.run_id, 'bench');
  if (!results) {
    ctx.out(
      `benchmark ${paint.out('red', status.status)}${status.error ? `: ${status.error.code}: ${status.error.message}` : ''}`,
    );
    return { runId: accepted.run_id, exit: exitForStatus(status) };
  }
  return { runId: accepted.run_id, results, exit: EXIT.OK };
}

/** 0 when at least one configuration was measured; 5 (nothing measured) when none was. */
export function measuredExitCode(results: BenchmarkResults): number {
  const measured = (results.configurations as Row[]).some((c) => c.status === 'ok');
  return measured ? EXIT.OK : EXIT.NO_BACKEND;
}

const STATUS_STYLE = (status: string) => (status === 'ok' ? 'green' : 'yellow');

interface PairedRow {
  baseline_label?: string;
  candidate_label?: string;
  batch_size?: number;
  sequence_length?: number | null;
  ratio?: number | null;
  ratio_ci?: [number, number] | null;
  rounds?: number;
  verdict?: string;
  reason?: string;
}

/** The paired ratios of a run that measured several models or backends side by side. */
export function pairedTable(results: BenchmarkResults): string {
  return table(
    ['baseline', 'candidate', 'ratio', 'interval', 'rounds', 'verdict'],
    (results.paired as PairedRow[]).map((p) => [
      p.baseline_label,
      p.candidate_label,
      fixed(p.ratio ?? NaN, 3),
      interval(p.ratio_ci),
      p.rounds,
      p.verdict,
    ]),
    { style: (col, text) => (col === 5 ? VERDICT_STYLE[text] : undefined) },
  );
}

interface Row {
  backend?: string;
  batch_size?: number;
  sequence_length?: number | null;
  status?: string;
  reason?: string;
  stats?: { p50?: number; p95?: number; cv_percent?: number; count?: number } | null;
  throughput_items_per_sec?: number | null;
}

export function resultsTable(results: BenchmarkResults): string {
  return table(
    ['backend', 'batch', 'seq', 'status', 'n', 'p50 ms', 'p95 ms', 'cv %', 'items/s'],
    (results.configurations as Row[]).map((c) => [
      c.backend,
      c.batch_size,
      c.sequence_length,
      c.status === 'ok' ? c.status : `${c.status}${c.reason ? ` (${c.reason.slice(0, 60)})` : ''}`,
      c.stats?.count,
      fixed(c.stats?.p50, 3),
      fixed(c.stats?.p95, 3),
      fixed(c.stats?.cv_percent, 1),
      fixed(c.throughput_items_per_sec, 1),
    ]),
    { style: (col, text) => (col === 3 ? STATUS_STYLE(text) : undefined) },
  );
}

interface GenerationRow {
  backend?: string;
  batch_size?: number;
  sequence_length?: number | null;
  generation?: {
    max_new_tokens: number;
    ttft_ms: { p50: number };
    tpot_ms: { p50: number; p90: number; p99: number };
    tokens_per_s: { decode: number; total: number };
  };
}

/** generate mode: TTFT, TPOT percentiles and tokens/s of each measured configuration. */
export function generationTable(results: BenchmarkResults): string {
  return table(
    [
      'backend',
      'batch',
      'prompt',
      'new',
      'TTFT p50 ms',
      'TPOT p50 ms',
      'p90',
      'p99',
      'tokens/s',
      'total tok/s',
    ],
    (results.configurations as GenerationRow[])
      .filter((c) => c.generation)
      .map((c) => {
        const g = c.generation!;
        return [
          c.backend,
          c.batch_size,
          c.sequence_length,
          g.max_new_tokens,
          fixed(g.ttft_ms.p50, 2),
          fixed(g.tpot_ms.p50, 2),
          fixed(g.tpot_ms.p90, 2),
          fixed(g.tpot_ms.p99, 2),
          fixed(g.tokens_per_s.decode, 1),
          fixed(g.tokens_per_s.total, 1),
        ];
      }),
  );
}

export async function benchAction(ctx: CliContext, models: string[], opts: BenchOptions): Promise<number> {
  const { runId, results, exit } = await runBenchmark(ctx, models, opts);
  if (!results) return exit;
  let text: string;
  if (opts.format === 'json') text = JSON.stringify(results, null, 2);
  else if (opts.format === 'csv' || opts.format === 'markdown')
    text = await ctx.client.getBenchmarkResults(runId, { format: opts.format });
  else {
    text = `${resultsTable(results)}\n\nrun ${runId}: latency_ms ${fixed(results.latency_ms, 3)}, throughput ${fixed(results.throughput, 1)} items/s`;
    if ((results.configurations as GenerationRow[]).some((c) => c.generation))
      text += `\n\ngeneration (each iteration one generate() call):\n${generationTable(results)}`;
    if (results.paired?.length)
      text += `\n\npaired (measured side by side, candidate / baseline):\n${pairedTable(results)}`;
    if (results.comparison)
      text += `\n\ncompared with ${opts.baseline}:\n${comparisonText(results.comparison as unknown as Comparison)}`;
  }
  if (opts.out) {
    const file = resolve(opts.out);
    writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
    ctx.info(`results written to ${file}`);
    // The gate's verdict is shown even when the results go to a file.
    if (results.comparison) ctx.info(`verdict: ${String(results.comparison.verdict)}`);
  } else ctx.out(text.trimEnd());
  const measured = measuredExitCode(results);
  if (measured !== EXIT.OK) {
    ctx.info(paint.err('yellow', 'nothing measured: no configuration ran (see the status column)'));
    return measured;
  }
  return results.comparison ? verdictExitCode(String(results.comparison.verdict)) : EXIT.OK;
}
