/**
 * How fast the dashboard renders (issue 14): the benchmark run list with 10,000 stored runs (target:
 * under a second), paging through it, and the run page of a result with 100,000 latencies.
 *
 *   npx ts-node --transpile-only bench/dashboard.ts [--runs 10000] [--latencies 100000] [--repeat 5]
 *
 * Starts the server in this process (embedded driver, SQLite in a temporary DATA_DIR, HARDWARE=cpu),
 * builds the UI when dist/web is missing, stores --runs finished benchmark operations straight through
 * the operations repository (as many API calls would), runs one real quick benchmark through the API
 * and stores a copy of its result whose configurations carry --latencies samples drawn from the real
 * ones. Then Debian's chromium (playwright-core) opens the pages and the script prints, per phase,
 * the median and max over --repeat loads of the time from navigation to the finished render (rows in
 * the table; every plot's canvas drawn), measured in the page (performance.now from navigation start).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/bootstrap';
import { loadConfig } from '../src/common/config/app-config';
import { OperationsRepository } from '../src/common/store/operations.repository';
import type { OperationRecord } from '../src/common/operations/operation.types';
import { dashboardDir } from '../src/dashboard/dashboard';
import { launchChromium } from '../test/browser';
import { HF_TINY, REPO_ROOT } from '../test/fixtures';
import { arg, loadAverage } from './cli';

const RUNS = Number(arg('runs', '10000'));
const LATENCIES = Number(arg('latencies', '100000'));
const REPEAT = Number(arg('repeat', '5'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (!existsSync(join(dashboardDir(), 'index.html'))) {
    execFileSync(
      process.execPath,
      ['node_modules/vite/bin/vite.js', 'build', '--config', 'web/vite.config.mts'],
      {
        cwd: REPO_ROOT,
        stdio: 'inherit',
      },
    );
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-dashboard-'));
  const app = await createApp(
    loadConfig({ DATA_DIR: dataDir, MODEL_ROOTS: HF_TINY, HARDWARE: 'cpu', LOG_LEVEL: 'error' }),
  );
  await app.listen(0, '127.0.0.1');
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const browser = await launchChromium();
  try {
    // One real benchmark, whose result is the template of the large one.
    const res = await fetch(`${base}/api/benchmark/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model_name: 'bert',
        batch_sizes: [1, 2, 4],
        sequence_lengths: [8, 16],
        min_duration_s: 0.2,
        min_iterations: 10,
      }),
    });
    const { run_id } = (await res.json()) as { run_id: string };
    const repo = app.get(OperationsRepository);
    for (;;) {
      const op = await repo.get(run_id, true);
      if (op && op.status === 'completed') break;
      if (op && ['failed', 'cancelled', 'timeout'].includes(op.status))
        throw new Error(`benchmark ${op.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const template = (await repo.get(run_id, true))!;

    // --runs stored runs, newest first spread over a month, a few tags and backends.
    const t0 = Date.parse('2026-11-01T00:00:00.000Z');
    const ops: OperationRecord[] = [];
    for (let i = 0; i < RUNS; i++) {
      const at = new Date(t0 + i * 60_000).toISOString();
      ops.push({
        ...template,
        id: `bench-${String(i).padStart(6, '0')}`,
        request: { ...template.request, hardware: [i % 3 === 0 ? 'webgpu' : 'cpu'], tags: [`t${i % 10}`] },
        status: i % 17 === 0 ? 'failed' : 'completed',
        result: null,
        created_at: at,
        started_at: at,
        finished_at: at,
        updated_at: at,
      });
    }
    let t = performance.now();
    for (let i = 0; i < ops.length; i += 500)
      await Promise.all(ops.slice(i, i + 500).map((op) => repo.insert(op)));
    console.log(`stored ${RUNS} runs in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    // The large result: every configuration's latencies resampled to --latencies samples.
    const result = template.result as { configurations: { latencies_ms: number[] }[] };
    const large = {
      ...result,
      configurations: result.configurations.map((c) => ({
        ...c,
        latencies_ms: Array.from(
          { length: LATENCIES },
          (_, i) => c.latencies_ms[(i * 7919) % c.latencies_ms.length]!,
        ),
      })),
    };
    const now = new Date().toISOString();
    await repo.insert({ ...template, id: 'bench-large', result: large, created_at: now, updated_at: now });

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    /** Navigates (full load) and returns ms from navigation start until `ready` holds in the page. */
    // Predicates as functions (the dashboard's CSP forbids evaluating strings).
    const ready = {
      rows: () => document.querySelectorAll('table.runs tbody tr').length === 50,
      plots: () => document.querySelectorAll('[data-testid=benchmark-plots] canvas').length >= 5,
    };
    const timed = async (hash: string, until: () => boolean): Promise<number> => {
      await page.goto('about:blank');
      await page.goto(`${base}/ui/#/${hash}`);
      await page.waitForFunction(until, undefined, { timeout: 60_000, polling: 'raf' });
      return page.evaluate(() => performance.now());
    };
    const phases: [string, string, () => boolean][] = [
      ['run list, first page of 50 (10,000 stored)', 'runs/benchmark', ready.rows],
      ['run list filtered (tag t3, backend cpu)', 'runs/benchmark?tag=t3&backend=cpu', ready.rows],
      [
        `run page, ${result.configurations.length} configurations x ${LATENCIES} latencies`,
        'run/benchmark/bench-large',
        ready.plots,
      ],
    ];
    console.log(`load average ${loadAverage()}`);
    for (const [name, hash, ready] of phases) {
      const ms: number[] = [];
      for (let i = 0; i < REPEAT; i++) ms.push(await timed(hash, ready));
      console.log(
        `${name}: median ${median(ms).toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms (from navigation start, n=${REPEAT})`,
      );
    }
    // Paging: from the click on "Next page" to the next 50 rows, 20 pages deep.
    await timed('runs/benchmark', ready.rows);
    const pageMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const first = await page.locator('table.runs tbody tr a').first().textContent();
      t = performance.now();
      await page.getByRole('button', { name: 'Next page' }).click();
      await page.waitForFunction(
        (prev) => document.querySelector('table.runs tbody tr a')?.textContent !== prev,
        first,
        { polling: 'raf' },
      );
      pageMs.push(performance.now() - t);
    }
    console.log(
      `next page (50 rows, 20 pages deep): median ${median(pageMs).toFixed(0)} ms, max ${Math.max(...pageMs).toFixed(0)} ms`,
    );
    // Switching the histogram to another configuration of 100,000 latencies (bin + redraw).
    await timed('run/benchmark/bench-large', ready.plots);
    const switchMs: number[] = [];
    for (let i = 1; i < result.configurations.length; i++) {
      t = performance.now();
      await page.locator('[data-testid=benchmark-plots] select').selectOption(String(i));
      await page.waitForFunction(
        (label) =>
          document.querySelector('[data-testid=benchmark-plots] figcaption')?.textContent?.includes(label),
        (large.configurations[i] as unknown as { label: string }).label,
        { polling: 'raf' },
      );
      switchMs.push(performance.now() - t);
    }
    console.log(
      `histogram of another configuration (${LATENCIES} latencies binned in the browser): median ${median(switchMs).toFixed(0)} ms, max ${Math.max(...switchMs).toFixed(0)} ms`,
    );
    if (errors.length) console.log(`console errors: ${errors.join(' | ')}`);
  } finally {
    await browser.close();
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
