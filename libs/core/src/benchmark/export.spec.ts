import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { createBackends } from '../backends';
import { loadImplementation } from '../models/load';
import { compareRuns } from './compare';
import { CSV_COLUMNS, comparisonMarkdown, toCsv, toJUnit, toMarkdown } from './export';
import { runBenchmark } from './runner';
import type { BenchmarkResult } from './types';

/** Splits one RFC 4180 line (no embedded newlines here). */
function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

describe('toCsv / toMarkdown', () => {
  let result: BenchmarkResult;
  beforeAll(async () => {
    result = await runBenchmark(
      {
        models: [{ name: 'gpt2', kind: 'onnx-file', path: join(HF_TINY, 'gpt2/torch_export.onnx') }],
        hardware: ['cpu', 'cuda'],
        batch_sizes: [1],
        sequence_lengths: [4],
        precision: 'fp32',
        warmup: { min_iterations: 1, max_iterations: 10, steady_cv: 0.5 },
        min_iterations: 5,
        min_duration_s: 0.05,
        rounds: 5,
        seed: 0,
      },
      {
        loadModel: (ref) => loadImplementation({ kind: ref.kind, path: ref.path }),
        // cuda is requested but not configured: a skipped row with a reason.
        backends: createBackends(['cpu']),
      },
    );
    // A reason with a comma and a quote, to check CSV quoting.
    result.configurations[1].reason = 'not here, "really"';
  }, 60_000);

  it('writes a header and one row per configuration, numbers at full precision', () => {
    const lines = toCsv(result).trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(parseCsvLine(lines[0])).toEqual([...CSV_COLUMNS]);
    const ok = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, parseCsvLine(lines[1])[i]]));
    const s = result.configurations[0].stats!;
    expect(ok).toMatchObject({
      model: 'gpt2',
      backend: 'cpu',
      batch_size: '1',
      sequence_length: '4',
      status: 'ok',
    });
    expect(Number(ok.p50_ms)).toBe(s.p50);
    expect(Number(ok.count)).toBe(s.count);
    expect(Number(ok.median_ci95_lower_ms)).toBe(s.median_ci95.lower);
    expect(Number(ok.throughput_items_per_sec)).toBe(result.configurations[0].throughput_items_per_sec);
    const skipped = parseCsvLine(lines[2]);
    expect(skipped).toHaveLength(CSV_COLUMNS.length);
    expect(skipped[CSV_COLUMNS.indexOf('status')]).toBe('skipped');
    expect(skipped[CSV_COLUMNS.indexOf('reason')]).toBe('not here, "really"');
    expect(skipped[CSV_COLUMNS.indexOf('p50_ms')]).toBe('');
    expect(Number(ok.rounds)).toBe(5);
    expect(Number(ok.noise_cv_percent)).toBeCloseTo(result.configurations[0].noise_cv! * 100, 9);
  });

  it('shows a comparison in Markdown and JUnit: regressed is a failure, inconclusive a skip', () => {
    // Round values fixed within 2% of each other (the real run's rounds can be far apart on a loaded
    // machine, which would make any verdict possible), the candidate's 3x the baseline's.
    const spread = [1, 1.02, 0.99, 1.01, 0.98];
    const scaled = (k: number): BenchmarkResult => ({
      ...result,
      configurations: result.configurations.map((c) => ({
        ...c,
        rounds: c.rounds.map((r, i) => ({
          ...r,
          median_ms: spread[i % 5] * k,
          min_ms: spread[i % 5] * k * 0.9,
        })),
      })),
    });
    const slower = scaled(3);
    const cmp = compareRuns(scaled(1), slower);
    expect(cmp.verdict).toBe('regressed');
    const md = comparisonMarkdown(cmp);
    expect(md).toMatch(/Comparison with the baseline: \*\*regressed\*\*/);
    expect(md).toMatch(/\| gpt2 \| cpu \| 1 \| 4 \|.*\| \*\*regressed\*\* \|/);
    expect(md).toMatch(/Unmatched:\n- gpt2\/cuda\/b1 \(both\)/);
    const xml = toJUnit(slower, cmp);
    expect(xml).toMatch(
      /<testsuites name="benchmark \(compared: regressed\)" tests="4" failures="1" errors="0" skipped="2"/,
    );
    expect(xml).toContain('<failure message="slower: x3.000');
    expect(xml).toContain('classname="benchmark.comparison" name="gpt2/cpu/b1/s4"');
    expect(xml).toContain('not here, &quot;really&quot;');
    // Without a comparison: one case per configuration.
    expect(toJUnit(result)).toMatch(/tests="2" failures="0" errors="0" skipped="1"/);
  });

  it('renders a Markdown table with the environment line', () => {
    const md = toMarkdown(result);
    const rows = md.split('\n').filter((l) => l.startsWith('|'));
    expect(rows).toHaveLength(4);
    const cells = (l: string) =>
      l
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim());
    expect(cells(rows[0])).toEqual([
      'model', 'backend', 'batch', 'seq', 'p50 ms', 'p90 ms', 'p99 ms', 'mean ± stdev ms',
      'median 95% CI ms', 'throughput items/s', 'load ms', 'peak RSS MiB', 'rounds', 'noise %',
    ]); // prettier-ignore
    const ok = cells(rows[2]);
    expect(ok).toHaveLength(14);
    expect(ok[12]).toBe('5');
    expect(ok.slice(0, 4)).toEqual(['gpt2', 'cpu', '1', '4']);
    const s = result.configurations[0].stats!;
    expect(Number(ok[4])).toBeCloseTo(s.p50, 2);
    expect(ok[7]).toMatch(/^[\d.e-]+ ± [\d.e-]+$/);
    expect(ok[8]).toMatch(/^\[[\d.e-]+, [\d.e-]+\]$/);
    expect(cells(rows[3])[4]).toContain('skipped: not here, "really"');
    expect(md).toContain(`onnxruntime ${result.environment.onnxruntime_version}`);
    expect(md).toContain(`Node ${process.version}`);
    expect(md).toContain(`${result.environment.cpu_cores} cores`);
  });
});
