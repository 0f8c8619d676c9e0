/** CSV, Markdown and JUnit renderings of a result. JSON is the result object itself. */
import { xmlEscape } from '../testing/junit';
import type {
  BenchmarkResult,
  ComparisonResult,
  ConfigurationResult,
  EnvironmentInfo,
  PairedComparison,
} from './types';

export const CSV_COLUMNS = [
  'model',
  'backend',
  'batch_size',
  'sequence_length',
  'precision',
  'graph',
  'status',
  'reason',
  'execution_provider',
  'count',
  'mean_ms',
  'p50_ms',
  'p90_ms',
  'p95_ms',
  'p99_ms',
  'min_ms',
  'max_ms',
  'stdev_ms',
  'cv_percent',
  'median_ci95_lower_ms',
  'median_ci95_upper_ms',
  'throughput_items_per_sec',
  'throughput_wall_items_per_sec',
  'load_ms',
  'first_inference_ms',
  'warmup_iterations',
  'peak_rss_mb',
  'rss_growth_mb',
  'preprocessing_p50_ms',
  'rounds',
  'noise_cv_percent',
  'model_id',
  'max_new_tokens',
  'ttft_p50_ms',
  'ttft_p90_ms',
  'tpot_p50_ms',
  'tpot_p90_ms',
  'tpot_p99_ms',
  'decode_tokens_per_s',
  'total_tokens_per_s',
] as const;

/** RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRow(c: ConfigurationResult): Record<(typeof CSV_COLUMNS)[number], unknown> {
  const s = c.stats;
  return {
    model: c.model,
    backend: c.backend,
    batch_size: c.batch_size,
    sequence_length: c.sequence_length,
    precision: c.precision,
    graph: c.graph,
    status: c.status,
    reason: c.reason,
    execution_provider: c.execution_provider,
    count: s?.count,
    mean_ms: s?.mean,
    p50_ms: s?.p50,
    p90_ms: s?.p90,
    p95_ms: s?.p95,
    p99_ms: s?.p99,
    min_ms: s?.min,
    max_ms: s?.max,
    stdev_ms: s?.stdev,
    cv_percent: s?.cv_percent,
    median_ci95_lower_ms: s?.median_ci95.lower,
    median_ci95_upper_ms: s?.median_ci95.upper,
    throughput_items_per_sec: c.throughput_items_per_sec,
    throughput_wall_items_per_sec: c.throughput_wall_items_per_sec,
    load_ms: c.load_ms,
    first_inference_ms: c.first_inference_ms,
    warmup_iterations: c.warmup_iterations,
    peak_rss_mb: c.peak_rss_mb,
    rss_growth_mb: c.rss_growth_mb,
    preprocessing_p50_ms: c.preprocessing?.pipeline.p50,
    rounds: c.rounds?.length,
    noise_cv_percent: c.noise_cv === null || c.noise_cv === undefined ? null : c.noise_cv * 100,
    model_id: c.model_id,
    max_new_tokens: c.generation?.max_new_tokens,
    ttft_p50_ms: c.generation?.ttft_ms.p50,
    ttft_p90_ms: c.generation?.ttft_ms.p90,
    tpot_p50_ms: c.generation?.tpot_ms.p50,
    tpot_p90_ms: c.generation?.tpot_ms.p90,
    tpot_p99_ms: c.generation?.tpot_ms.p99,
    decode_tokens_per_s: c.generation?.tokens_per_s.decode,
    total_tokens_per_s: c.generation?.tokens_per_s.total,
  };
}

/** One header line and one line per configuration (CRLF-free, `\n` line ends), full precision. */
export function toCsv(result: BenchmarkResult): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const c of result.configurations) {
    const row = csvRow(c);
    lines.push(CSV_COLUMNS.map((col) => csvField(row[col])).join(','));
  }
  return lines.join('\n') + '\n';
}

function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && a < 0.001) return v.toExponential(2);
  return v.toFixed(a >= 1000 ? 0 : a >= 100 ? 1 : digits);
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** `CPU (cores), memory, OS release, Node, onnxruntime, host, commit`. */
export function environmentLine(env: EnvironmentInfo): string {
  const eps = Object.entries(env.backends)
    .map(([name, b]) => `${name}: ${b.available ? b.execution_provider : 'unavailable'}`)
    .join(', ');
  return (
    `${env.cpu_model} (${env.cpu_cores} cores), ${Math.round(env.total_memory_mb)} MiB, ` +
    `${env.os} ${env.os_release} ${env.arch}, Node ${env.node_version}, onnxruntime ${env.onnxruntime_version}` +
    (eps ? ` [${eps}]` : '') +
    `, host ${env.hostname}` +
    (env.git_commit ? `, commit ${env.git_commit.slice(0, 12)}` : '')
  );
}

/** A Markdown table, one row per configuration, latencies in ms, then the environment line. */
export function toMarkdown(result: BenchmarkResult): string {
  const header = [
    'model',
    'backend',
    'batch',
    'seq',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'mean ± stdev ms',
    'median 95% CI ms',
    'throughput items/s',
    'load ms',
    'peak RSS MiB',
    'rounds',
    'noise %',
  ];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const c of result.configurations) {
    const s = c.stats;
    const lead = [
      mdCell(c.model),
      c.backend,
      String(c.batch_size),
      c.sequence_length === null ? '–' : String(c.sequence_length),
    ];
    if (c.status !== 'ok' || !s) {
      const why = mdCell(`${c.status}${c.reason ? `: ${c.reason}` : ''}`);
      lines.push(
        `| ${[...lead, why, '', '', '', '', '', fmt(c.load_ms), fmt(c.peak_rss_mb, 1), '', ''].join(' | ')} |`,
      );
      continue;
    }
    lines.push(
      `| ${[
        ...lead,
        fmt(s.p50),
        fmt(s.p90),
        fmt(s.p99),
        `${fmt(s.mean)} ± ${fmt(s.stdev)}`,
        `[${fmt(s.median_ci95.lower)}, ${fmt(s.median_ci95.upper)}]`,
        fmt(c.throughput_items_per_sec, 1),
        fmt(c.load_ms, 1),
        fmt(c.peak_rss_mb, 1),
        String(c.rounds?.length ?? 1),
        c.noise_cv === null || c.noise_cv === undefined ? '–' : fmt(c.noise_cv * 100, 1),
      ].join(' | ')} |`,
    );
  }
  const comparison = (result as { comparison?: ComparisonResult }).comparison;
  const generated = result.configurations.filter((c) => c.generation);
  return (
    `${lines.join('\n')}\n\n` +
    (generated.length ? `${generationMarkdown(generated)}\n` : '') +
    (result.paired?.length ? `${pairedMarkdown(result.paired)}\n` : '') +
    (comparison ? `${comparisonMarkdown(comparison)}\n` : '') +
    `Environment: ${environmentLine(result.environment)}\n\n` +
    `Latencies: process.hrtime around handle.run(feeds) only; percentiles type 7; ` +
    `throughput = batch / median latency. Started ${result.started_at}, completed ${result.completed_at}.\n`
  );
}

/** generate mode: the token figures of each configuration as a Markdown table. */
export function generationMarkdown(configurations: readonly ConfigurationResult[]): string {
  const header = [
    'model',
    'backend',
    'batch',
    'prompt',
    'new tokens',
    'TTFT p50 ms',
    'TPOT p50 / p90 / p99 ms',
    'decode tokens/s',
    'total tokens/s',
  ];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const c of configurations) {
    const g = c.generation!;
    lines.push(
      `| ${[
        mdCell(c.model),
        c.backend,
        String(c.batch_size),
        String(g.prompt_length),
        String(g.max_new_tokens),
        fmt(g.ttft_ms.p50),
        `${fmt(g.tpot_ms.p50)} / ${fmt(g.tpot_ms.p90)} / ${fmt(g.tpot_ms.p99)}`,
        fmt(g.tokens_per_s.decode, 1),
        fmt(g.tokens_per_s.total, 1),
      ].join(' | ')} |`,
    );
  }
  return `Generation (each iteration one generate() call; the latencies above are whole generations):\n\n${lines.join('\n')}\n`;
}

function interval(ci: [number, number] | null | undefined): string {
  return ci ? `[${fmt(ci[0])}, ${fmt(ci[1])}]` : '–';
}

/** Paired ratios of one run as a Markdown table. */
export function pairedMarkdown(paired: readonly PairedComparison[]): string {
  const lines = [
    '| baseline | candidate | ratio | interval | rounds | verdict |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const p of paired) {
    lines.push(
      `| ${[mdCell(p.baseline_label), mdCell(p.candidate_label), fmt(p.ratio), interval(p.ratio_ci), String(p.rounds), `**${p.verdict}**`].join(' | ')} |`,
    );
  }
  const first = paired[0];
  return (
    `Paired (side by side, round by round; ${Math.round((first?.confidence ?? 0.95) * 100)}% intervals of the ratio ` +
    `candidate / baseline, threshold ${fmt((first?.threshold ?? 0) * 100, 1)}%):\n\n${lines.join('\n')}\n`
  );
}

/** A comparison with its baseline as Markdown: the verdict, why, and one row per configuration. */
export function comparisonMarkdown(c: ComparisonResult): string {
  const lines = [
    '| model | backend | batch | seq | baseline ms | candidate ms | ratio | interval | noise % (b/c) | run noise % | verdict |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const pctOf = (v: number | null) => (v === null ? '–' : fmt(v * 100, 1));
  for (const r of c.configurations) {
    lines.push(
      `| ${[
        mdCell(r.model),
        r.backend,
        String(r.batch_size),
        r.sequence_length === null ? '–' : String(r.sequence_length),
        fmt(r.baseline_median_ms),
        fmt(r.candidate_median_ms),
        fmt(r.ratio),
        interval(r.ratio_ci),
        `${pctOf(r.baseline_noise_cv)} / ${pctOf(r.candidate_noise_cv)}`,
        r.run_noise ? `${pctOf(r.run_noise.cv)} (${r.run_noise.source})` : '–',
        `**${r.verdict}**`,
      ].join(' | ')} |`,
    );
  }
  const unmatched = c.unmatched.map(
    (u) => `- ${mdCell(`${u.model}/${u.backend}/b${u.batch_size}`)} (${u.side}): ${mdCell(u.reason)}`,
  );
  return (
    `Comparison with the baseline: **${c.verdict}** (threshold ${fmt(c.threshold * 100, 1)}%, ` +
    `${Math.round(c.confidence * 100)}% intervals of round ${c.statistic}s): ${mdCell(c.reason)}\n\n` +
    `${lines.join('\n')}\n` +
    (unmatched.length ? `\nUnmatched:\n${unmatched.join('\n')}\n` : '')
  );
}

/**
 * JUnit XML for CI dashboards: one test case per configuration (failed: failure, skipped: skipped),
 * then, when the result was compared with a baseline, one per compared configuration (regressed:
 * failure; inconclusive and unmatched: skipped, with the reason) and one per paired ratio.
 */
export function toJUnit(result: BenchmarkResult, comparison?: ComparisonResult): string {
  type Case = {
    classname: string;
    name: string;
    time: number;
    failure?: string;
    skipped?: string;
    out?: string;
  };
  const cases: Case[] = [];
  for (const c of result.configurations) {
    cases.push({
      classname: `benchmark.${c.backend}`,
      name: c.label,
      time: c.measure_duration_s ?? 0,
      ...(c.status === 'failed' ? { failure: c.reason ?? 'failed' } : {}),
      ...(c.status === 'skipped' ? { skipped: c.reason ?? 'skipped' } : {}),
      ...(c.stats
        ? {
            out: `p50 ${fmt(c.stats.p50)} ms, ${c.rounds?.length ?? 1} rounds, noise ${c.noise_cv === null || c.noise_cv === undefined ? '–' : fmt(c.noise_cv * 100, 1)}%`,
          }
        : {}),
    });
  }
  for (const p of result.paired ?? []) {
    cases.push({
      classname: 'benchmark.paired',
      name: `${p.candidate_label} vs ${p.baseline_label}`,
      time: 0,
      ...(p.verdict === 'regressed'
        ? { failure: p.reason }
        : p.verdict === 'inconclusive'
          ? { skipped: p.reason }
          : {}),
      out: `${p.verdict}: ${p.reason}`,
    });
  }
  if (comparison) {
    for (const r of comparison.configurations) {
      cases.push({
        classname: 'benchmark.comparison',
        name: `${r.model}/${r.backend}/b${r.batch_size}${r.sequence_length === null ? '' : `/s${r.sequence_length}`}`,
        time: 0,
        ...(r.verdict === 'regressed'
          ? { failure: r.reason }
          : r.verdict === 'inconclusive'
            ? { skipped: r.reason }
            : {}),
        out: `${r.verdict}: ${r.reason}`,
      });
    }
    for (const u of comparison.unmatched) {
      cases.push({
        classname: 'benchmark.comparison',
        name: `${u.model}/${u.backend}/b${u.batch_size}${u.sequence_length === null ? '' : `/s${u.sequence_length}`} (${u.side})`,
        time: 0,
        skipped: u.reason,
      });
    }
  }
  const failures = cases.filter((c) => c.failure !== undefined).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const total = cases.reduce((t, c) => t + c.time, 0);
  const body = cases.map((c) => {
    const open = `    <testcase classname="${xmlEscape(c.classname)}" name="${xmlEscape(c.name)}" time="${c.time.toFixed(3)}"`;
    const inner: string[] = [];
    if (c.failure !== undefined)
      inner.push(
        `      <failure message="${xmlEscape(c.failure)}" type="Regression">${xmlEscape(c.failure)}</failure>`,
      );
    if (c.skipped !== undefined) inner.push(`      <skipped message="${xmlEscape(c.skipped)}"/>`);
    if (c.out !== undefined) inner.push(`      <system-out>${xmlEscape(c.out)}</system-out>`);
    return inner.length ? `${open}>\n${inner.join('\n')}\n    </testcase>` : `${open}/>`;
  });
  const name = comparison ? `benchmark (compared: ${comparison.verdict})` : 'benchmark';
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(name)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${total.toFixed(3)}">`,
    `  <testsuite name="${xmlEscape(name)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${total.toFixed(3)}" timestamp="${xmlEscape(result.started_at)}">`,
    ...body,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
