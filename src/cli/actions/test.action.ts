/** test <model|path>: run a test suite, print each check, optionally write JUnit XML. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Backend, RunTestRequest, TestResults } from '../../../libs/client/src';
import { CliContext, EXIT, exitForStatus, modelArgument } from '../context';
import { fixed } from '../progress';
import { paint } from '../term';

export interface TestOptions {
  hardware: Backend['name'][];
  type: NonNullable<RunTestRequest['test_type']>;
  precision?: NonNullable<RunTestRequest['precision']>;
  junit?: string;
  timeout?: number;
}

/** Runs the tests; returns the results (undefined when the run did not complete). */
export async function runTests(
  ctx: CliContext,
  model: string,
  opts: TestOptions,
): Promise<{ results?: TestResults; exit: number }> {
  const accepted = await ctx.client.runTest({
    model_name: modelArgument(model),
    hardware: opts.hardware,
    test_type: opts.type,
    ...(opts.precision ? { precision: opts.precision } : {}),
    ...(opts.timeout ? { timeout: opts.timeout } : {}),
  });
  ctx.info(`test run ${accepted.run_id} accepted: ${accepted.message}`);
  const { status, results } = await ctx.monitor<TestResults>('test', accepted.run_id, 'test');
  if (!results) {
    ctx.out(
      `test run ${paint.out('red', status.status)}${status.error ? `: ${status.error.code}: ${status.error.message}` : ''}`,
    );
    return { exit: exitForStatus(status) };
  }
  for (const d of results.test_details) {
    const mark =
      d.status === 'passed'
        ? paint.out('green', 'PASS')
        : d.status === 'failed'
          ? paint.out('red', 'FAIL')
          : paint.out('yellow', 'SKIP');
    ctx.out(
      `${mark}  ${d.backend.padEnd(7)} ${d.name.padEnd(28)} ${fixed(d.duration_ms, 1).padStart(9)} ms${d.message ? `  ${d.message}` : ''}`,
    );
  }
  for (const [backend, p] of Object.entries(results.performance_metrics ?? {})) {
    ctx.out(
      `perf  ${backend.padEnd(7)} latency ${fixed(p.latency_ms)} ms, throughput ${fixed(p.throughput_items_per_sec, 1)} items/s, memory ${fixed(p.memory_mb, 1)} MB`,
    );
  }
  const s = results.summary;
  const verdict = results.status.toUpperCase();
  ctx.out(
    `${paint.out(results.status === 'passed' ? 'green' : 'red', verdict)}: ${s.tests_passed} passed, ${s.tests_failed} failed, ${s.tests_skipped} skipped in ${fixed(results.duration_s)} s (run ${results.run_id})`,
  );
  if (opts.junit) {
    const xml = await ctx.client.getTestResults(accepted.run_id, { format: 'junit' });
    const file = resolve(opts.junit);
    writeFileSync(file, xml);
    ctx.info(`JUnit XML written to ${file}`);
  }
  return { results, exit: testExitCode(results) };
}

/**
 * 0 when everything that ran passed; 5 when nothing ran because no requested backend was available
 * (every check skipped); 4 when the model could not even be loaded on any backend that ran (every
 * `load` check failed); otherwise 1.
 */
export function testExitCode(results: TestResults): number {
  if (results.status === 'passed' && results.summary.tests_passed > 0) return EXIT.OK;
  const details = results.test_details;
  if (details.length > 0 && details.every((d) => d.status === 'skipped')) return EXIT.NO_BACKEND;
  const loads = details.filter((d) => d.name === 'load' && d.status !== 'skipped');
  if (loads.length > 0 && loads.every((d) => d.status === 'failed')) return EXIT.NOT_FOUND;
  return results.status === 'passed' ? EXIT.OK : EXIT.FAILED;
}

export async function testAction(ctx: CliContext, model: string, opts: TestOptions): Promise<number> {
  return (await runTests(ctx, model, opts)).exit;
}
