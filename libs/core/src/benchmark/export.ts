/** CSV and Markdown renderings of a result. JSON is the result object itself. */
import type { BenchmarkResult, ConfigurationResult, EnvironmentInfo } from './types';

export const CSV_COLUMNS = [
  'model',
  'backend',
  'batch_size',
  'sequence_length',
  'precision',
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
        `| ${[...lead, why, '', '', '', '', '', fmt(c.load_ms), fmt(c.peak_rss_mb, 1)].join(' | ')} |`,
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
      ].join(' | ')} |`,
    );
  }
  return (
    `${lines.join('\n')}\n\n` +
    `Environment: ${environmentLine(result.environment)}\n\n` +
    `Latencies: process.hrtime around handle.run(feeds) only; percentiles type 7; ` +
    `throughput = batch / median latency. Started ${result.started_at}, completed ${result.completed_at}.\n`
  );
}
