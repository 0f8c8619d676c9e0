/** workflow <model>: generate → test the generated implementation → benchmark when the tests pass. */
import { dirname } from 'node:path';
import type { Backend } from '../../../libs/client/src';
import { CliContext, EXIT } from '../context';
import { fixed } from '../progress';
import { measuredExitCode, runBenchmark } from './bench.action';
import { generate } from './generate.action';
import { runTests } from './test.action';

export interface WorkflowOptions {
  hardware: Backend['name'][];
  weights?: 'auto' | 'random' | 'safetensors';
  force?: boolean;
  batchSizes: number[];
  seqLens: number[];
  minDuration?: number;
}

export async function workflowAction(ctx: CliContext, model: string, opts: WorkflowOptions): Promise<number> {
  ctx.out(`== 1/3 generate ${model}`);
  const { results: generated, exit } = await generate(ctx, model, opts);
  if (!generated) return exit;

  const implementation = dirname(generated.file_path);
  ctx.out(`== 2/3 test ${implementation}`);
  const tests = await runTests(ctx, implementation, { hardware: opts.hardware, type: 'basic' });
  if (tests.exit !== EXIT.OK) {
    ctx.out('tests did not pass: no benchmark');
    return tests.exit;
  }

  ctx.out(`== 3/3 benchmark ${implementation}`);
  const { runId, results, exit: benchExit } = await runBenchmark(ctx, implementation, opts);
  if (!results) return benchExit;
  ctx.out(`latency_ms: ${fixed(results.latency_ms, 3)}`);
  ctx.out(`throughput: ${fixed(results.throughput, 1)} items/s`);
  ctx.out(`benchmark run ${runId}`);
  return measuredExitCode(results);
}
