/**
 * Overhead of the benchmark runner against a bare onnxruntime loop, in one process.
 *
 *   npx ts-node --transpile-only bench/overhead.ts [model.onnx] [batch] [sequence] [blocks] [block_s]
 *
 * Same model, backend (cpu, one intra-op thread) and input shape, through runBenchmark and through a
 * bare `session.run` loop timed the same way (process.hrtime.bigint around each run), in alternating
 * blocks so that drift of the machine hits both alike. Prints per-block medians and the ratio of the
 * pooled medians (runner / bare; target <= 1.02).
 */
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createBackends } from '../libs/core/src/backends';
import { runBenchmark } from '../libs/core/src/benchmark';
import { percentile } from '../libs/core/src/benchmark/stats';
import { loadImplementation } from '../libs/core/src/models/load';

const DEFAULT_MODEL = resolve(__dirname, '../../shared/fixtures/hf-tiny/bert/torch_export.onnx');

async function main(): Promise<void> {
  const [modelArg, batchArg, seqArg, blocksArg, blockSArg] = process.argv.slice(2);
  const path = resolve(modelArg || DEFAULT_MODEL);
  const batch = Number(batchArg || 4);
  const seq = Number(seqArg || 32);
  const blocks = Number(blocksArg || 6);
  const blockS = Number(blockSArg || 1.5);

  const impl = await loadImplementation({ kind: 'onnx-file', path });
  const backends = createBackends(['cpu'], { intraOpNumThreads: 1 });
  const cpu = backends.get('cpu')!;
  const hasSeq = impl.metadata.inputs.some((t) => t.shape.slice(1).some((d) => typeof d === 'string'));
  const feeds = impl.makeInputs({ batchSize: batch, ...(hasSeq ? { sequenceLength: seq } : {}), seed: 1 });

  const session = await ort.InferenceSession.create(path, cpu.sessionOptions());
  for (let i = 0; i < 50; i++) await session.run(feeds);

  const bareBlock = async (): Promise<number[]> => {
    const out: number[] = [];
    const end = process.hrtime.bigint() + BigInt(Math.round(blockS * 1e9));
    for (;;) {
      const s = process.hrtime.bigint();
      await session.run(feeds);
      const e = process.hrtime.bigint();
      out.push(Number(e - s) / 1e6);
      if (e >= end) return out;
    }
  };
  const runnerBlock = async (): Promise<number[]> => {
    const r = await runBenchmark(
      {
        models: [{ name: 'm', kind: 'onnx-file', path }],
        hardware: ['cpu'],
        batch_sizes: [batch],
        sequence_lengths: [seq],
        precision: 'fp32',
        warmup: { min_iterations: 50, max_iterations: 100, steady_cv: 0.05 },
        min_iterations: 10,
        min_duration_s: blockS,
        seed: 1,
      },
      { loadModel: async () => impl, backends },
    );
    const c = r.configurations[0];
    if (c.status !== 'ok') throw new Error(`runner: ${c.status} ${c.reason}`);
    return c.latencies_ms;
  };

  const runnerAll: number[] = [];
  const bareAll: number[] = [];
  const ratios: number[] = [];
  console.log(
    `model ${path}\nshape batch ${batch}${hasSeq ? `, sequence ${seq}` : ''}; cpu, 1 intra-op thread`,
  );
  console.log(`${blocks} alternating blocks of ${blockS} s each\n`);
  console.log('block  runner median ms (n)    bare median ms (n)    ratio');
  for (let b = 0; b < blocks; b++) {
    // Alternate which goes first, so neither always follows the other.
    const first = b % 2 === 0 ? 'runner' : 'bare';
    const x = first === 'runner' ? await runnerBlock() : await bareBlock();
    const y = first === 'runner' ? await bareBlock() : await runnerBlock();
    const [rl, bl] = first === 'runner' ? [x, y] : [y, x];
    runnerAll.push(...rl);
    bareAll.push(...bl);
    const rm = percentile(rl, 0.5);
    const bm = percentile(bl, 0.5);
    ratios.push(rm / bm);
    console.log(
      `${String(b + 1).padStart(5)}  ${rm.toFixed(4).padStart(10)} (${String(rl.length).padStart(6)})    ` +
        `${bm.toFixed(4).padStart(10)} (${String(bl.length).padStart(6)})    ${(rm / bm).toFixed(4)}`,
    );
  }
  await session.release();
  const pooled = percentile(runnerAll, 0.5) / percentile(bareAll, 0.5);
  console.log(
    `\npooled median: runner ${percentile(runnerAll, 0.5).toFixed(4)} ms, bare ${percentile(bareAll, 0.5).toFixed(4)} ms`,
  );
  console.log(`ratio of pooled medians (runner / bare): ${pooled.toFixed(4)}  (target <= 1.02)`);
  console.log(`median of per-block ratios: ${percentile(ratios, 0.5).toFixed(4)}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
