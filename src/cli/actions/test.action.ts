/** test <model|path>: run a test suite, print each check, optionally write JUnit XML. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Backend, RunTestRequest, TestResults } from '../../../libs/client/src';
import { CliContext, EXIT } from '../context';
import { fixed } from '../progress';

export interface TestOptions {
  hardware: Backend['name'][];
  type: NonNullable<RunTestRequest['test_type']>;
  junit?: string;
  timeout?: number;
}

/** Runs the tests; returns the results (undefined when the run did not complete). */
export async function runTests(
  ctx: CliContext,
  model: string,
  opts: TestOptions,
): Promise<TestResults | undefined> {
  const accepted = await ctx.client.runTest({
    model_name: model,
    hardware: opts.hardware,
    test_type: opts.type,
    ...(opts.timeout ? { timeout: opts.timeout } : {}),
  });
  ctx.info(`test run ${accepted.run_id} accepted: ${accepted.message}`);
  const { status, results } = await ctx.monitor<TestResults>('test', accepted.run_id, 'test');
  if (!results) {
    ctx.out(
      `test run ${status.status}${status.error ? `: ${status.error.code}: ${status.error.message}` : ''}`,
    );
    return undefined;
  }
  for (const d of results.test_details) {
    const mark = d.status === 'passed' ? 'PASS' : d.status === 'failed' ? 'FAIL' : 'SKIP';
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
  ctx.out(
    `${results.status.toUpperCase()}: ${s.tests_passed} passed, ${s.tests_failed} failed, ${s.tests_skipped} skipped in ${fixed(results.duration_s)} s (run ${results.run_id})`,
  );
  if (opts.junit) {
    const xml = await ctx.client.getTestResults(accepted.run_id, { format: 'junit' });
    const file = resolve(opts.junit);
    writeFileSync(file, xml);
    ctx.info(`JUnit XML written to ${file}`);
  }
  return results;
}

export async function testAction(ctx: CliContext, model: string, opts: TestOptions): Promise<number> {
  const results = await runTests(ctx, model, opts);
  return results?.status === 'passed' ? EXIT.OK : EXIT.FAILED;
}
