/**
 * Calibration of the admission estimator (libs/core/src/models/estimate.ts): for each model and
 * shape, builds the model's graph with seeded random weights at its real size (cached under
 * --dir), runs one CPU inference in a fresh child process (test/peak-rss.ts) and prints the
 * measured peak RSS growth beside the estimate.
 *
 *   npx ts-node --transpile-only bench/memory.ts [--dir /tmp/bench-memory]
 *       [--cases bert-base-uncased:1x128,bert-base-uncased:8x128,gpt2:8x128]
 *
 * A case is `<registry id>:<batch>x<sequence>`. The graphs take disk: bert-base 438 MB, gpt2 498 MB.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildOnnxModel } from '../libs/core/src/onnx';
import { dimsFromConfig, estimateMemory } from '../libs/core/src/models/estimate';
import { resolveModel } from '../libs/core/src/models/registry';
import { REPO_ROOT } from '../test/fixtures';
import { arg, loadAverage } from './cli';

const DIR = arg('dir', '/tmp/bench-memory')!;
const CASES = arg(
  'cases',
  'prajjwal1/bert-tiny:1x8,prajjwal1/bert-tiny:64x512,prajjwal1/bert-tiny:128x512,bert-base-uncased:1x128,bert-base-uncased:8x128,bert-base-uncased:16x512,gpt2:1x128,gpt2:8x128',
)!;

const MiB = 2 ** 20;

async function main(): Promise<void> {
  console.log(`loadavg ${loadAverage()}`);
  console.log(
    '| model | batch × seq | estimate MiB (weights + arena + runtime) | measured peak RSS growth MiB | estimate / measured |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  for (const c of CASES.split(',')) {
    const [id, shape] = c.split(':') as [string, string];
    const [batch, seq] = shape.split('x').map(Number) as [number, number];
    const source = resolveModel(id);
    const out = join(DIR, id.replace(/\W+/g, '-'));
    if (!existsSync(join(out, 'model.onnx'))) {
      await buildOnnxModel({ config: source.config, outDir: out, weights: 'random' });
    }
    const dims = dimsFromConfig(source.config)!;
    const e = estimateMemory(dims, [{ batchSize: batch, sequenceLength: seq }]);
    const line = execFileSync(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        'test/peak-rss.ts',
        join(out, 'model.onnx'),
        String(batch),
        String(seq),
      ],
      { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    const m = JSON.parse(line.trim().split('\n').pop()!) as { growth_bytes: number };
    const f = (b: number) => (b / MiB).toFixed(0);
    console.log(
      `| ${id} | ${batch} × ${seq} | ${f(e.total_bytes)} (${f(e.weights_bytes)} + ${f(e.arena_bytes)} + ${f(e.runtime_bytes)}) | ${f(m.growth_bytes)} | ${(e.total_bytes / m.growth_bytes).toFixed(2)} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
