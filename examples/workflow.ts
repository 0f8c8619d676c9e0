/**
 * The end-to-end workflow on the SDK: generate a model (default bert-base-uncased; a registry id or a
 * local folder with config.json) → test the generated implementation → benchmark it when the tests
 * pass → print latency and throughput.
 *
 *   npx ts-node --transpile-only examples/workflow.ts [model] [--url http://localhost:8000]
 *   npx ts-node --transpile-only examples/workflow.ts ../shared/fixtures/hf-tiny/bert --seq-len 8
 *
 * The seed's integration example runs each suite in its own server, sharing DATA_DIR:
 *   ipfs-accelerate serve --port 8001 --components generator
 *   ipfs-accelerate serve --port 8002 --components test
 *   ipfs-accelerate serve --port 8003 --components benchmark
 *   npx ts-node --transpile-only examples/workflow.ts bert-base-uncased \
 *     --generator-url http://localhost:8001 --test-url http://localhost:8002 --bench-url http://localhost:8003
 * Options: --seq-len N (default 128) for the benchmark.
 * (ACCELERATE_URL and API_KEY are read from the environment too.)
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ApiClient, ApiError } from '../libs/client/src';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const VALUED = ['--url', '--generator-url', '--test-url', '--bench-url', '--seq-len'];
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const baseUrl = flag('--url') ?? process.env.ACCELERATE_URL ?? 'http://localhost:8000';
  // The first argument that is neither a flag nor a flag's value.
  const positional = args.filter((a, i) => !a.startsWith('--') && !VALUED.includes(args[i - 1] ?? ''));
  const unknown = args.filter((a) => a.startsWith('--') && !VALUED.includes(a));
  if (unknown.length || positional.length > 1) {
    console.error(`usage: workflow.ts [model] [${VALUED.map((f) => `${f} <value>`).join('] [')}]`);
    return 2;
  }
  const given = positional[0] ?? 'bert-base-uncased';
  // A local folder (absolute, ./ or ../, or one that exists here) is sent as an absolute path: the
  // server resolves relative paths against its DATA_DIR, not against this shell's folder.
  const model =
    isAbsolute(given) || /^\.\.?([/\\]|$)/.test(given) || existsSync(given) ? resolve(given) : given;
  const clientFor = (url: string | undefined) =>
    new ApiClient({ baseUrl: url ?? baseUrl, apiKey: process.env.API_KEY });
  const generator = clientFor(flag('--generator-url'));
  const tester = clientFor(flag('--test-url'));
  const bencher = clientFor(flag('--bench-url'));
  const log = (s: { status: string; progress: number; current_step: string | null }) =>
    console.log(`  ${s.status} ${Math.round(s.progress * 100)}% ${s.current_step ?? ''}`);

  console.log(`1. generate ${model}`);
  const { task_id } = await generator.generateModel({
    model_name: model,
    hardware: ['cpu'],
    weights: 'auto',
    force: true,
  });
  const generation = await generator.monitorGeneration(task_id, { onProgress: log, websocket: true });
  if (!generation.results) {
    console.error(`generation ${generation.status.status}: ${generation.status.error?.message ?? ''}`);
    return 1;
  }
  const implementation = dirname(generation.results.file_path);
  console.log(`   → ${generation.results.file_path} (cid ${generation.results.cid})`);

  console.log(`2. test ${implementation}`);
  const { run_id: testId } = await tester.runTest({
    model_name: implementation,
    hardware: ['cpu'],
    test_type: 'basic',
  });
  const tests = await tester.monitorTestWs(testId, { onProgress: log });
  const summary = tests.results?.summary;
  console.log(
    `   → ${tests.results?.status ?? tests.status.status}: ${summary?.tests_passed ?? 0} passed, ${summary?.tests_failed ?? 0} failed`,
  );
  if (tests.results?.status !== 'passed') return 1;

  console.log(`3. benchmark ${implementation}`);
  const { run_id: benchId } = await bencher.runBenchmark({
    model_name: implementation,
    hardware: ['cpu'],
    batch_sizes: [1],
    sequence_lengths: [Number(flag('--seq-len') ?? 128)],
    min_duration_s: 2,
  });
  const bench = await bencher.monitorBenchmarkWs(benchId, { onProgress: log });
  if (!bench.results) return 1;
  console.log(`latency_ms: ${bench.results.latency_ms?.toFixed(3)}`);
  console.log(`throughput: ${bench.results.throughput?.toFixed(1)} items/s`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof ApiError ? `${err.name}: ${err.message}` : err);
    process.exit(1);
  },
);
