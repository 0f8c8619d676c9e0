/**
 * Optimized (fused contrib ops) against portable encoder graphs, side by side on this machine.
 *
 *   npx ts-node --transpile-only bench/optimized-graphs.ts [model id] [runs per configuration]
 *
 * Default: bert-base-uncased (random fp32 weights at its real size, seed 0), task feature-extraction
 * (the encoder itself; the fill-mask head's vocabulary GEMM would be the same in both), cpu,
 * graphOptimizationLevel 'all' (onnxruntime's own fusions on both), batch 1 and 8 at sequence 128.
 * Each configuration runs the two sessions interleaved in ABBA order (so drift hits both alike),
 * after 3 warm-up runs each, and prints the median latency of each flavour and their ratio
 * (target: optimized / portable <= 0.85). Also the build time and size of each graph. Nothing is
 * asserted: it prints figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { resolveModel } from '../libs/core/src/models/registry';
import { buildOnnxModel, type GraphFlavour } from '../libs/core/src/onnx';
import { percentileSorted } from '../libs/core/src/benchmark/stats';

const SEQ = 128;
const BATCHES = [1, 8];

function ids(batch: number, vocab: number, seed: number): ort.Tensor {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return new ort.Tensor(
    'int64',
    BigInt64Array.from({ length: batch * SEQ }, () => BigInt(Math.floor(next() * vocab))),
    [batch, SEQ],
  );
}

async function main(): Promise<void> {
  const id = process.argv[2] ?? 'bert-base-uncased';
  const runs = Number(process.argv[3] ?? 20);
  const source = resolveModel(id);
  const root = mkdtempSync(join(tmpdir(), 'bench-optimized-'));
  try {
    const sessions: Record<GraphFlavour, ort.InferenceSession> = {} as never;
    for (const graph of ['portable', 'optimized'] as GraphFlavour[]) {
      const t = performance.now();
      const built = await buildOnnxModel({
        config: source.config,
        outDir: join(root, graph),
        weights: 'random',
        task: 'feature-extraction',
        graph,
        seed: 0,
      });
      console.log(
        `${graph.padEnd(9)} built in ${((performance.now() - t) / 1000).toFixed(1)} s, ${(built.bytesWritten / 2 ** 20).toFixed(0)} MiB`,
      );
      sessions[graph] = await ort.InferenceSession.create(built.onnxPath, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
      });
    }
    const vocab = Number(source.config.vocab_size);
    console.log(`\n${id}, cpu, sequence ${SEQ}, ${runs} runs per flavour, ABBA interleaved`);
    console.log('| batch | portable p50 ms | optimized p50 ms | optimized / portable |');
    console.log('| ---: | ---: | ---: | ---: |');
    for (const batch of BATCHES) {
      const feeds = (s: ort.InferenceSession): Record<string, ort.Tensor> => {
        const f: Record<string, ort.Tensor> = {
          input_ids: ids(batch, vocab, 7),
          attention_mask: new ort.Tensor('int64', new BigInt64Array(batch * SEQ).fill(1n), [batch, SEQ]),
        };
        if (s.inputNames.includes('token_type_ids')) {
          f.token_type_ids = new ort.Tensor('int64', new BigInt64Array(batch * SEQ), [batch, SEQ]);
        }
        return f;
      };
      const times: Record<GraphFlavour, number[]> = { portable: [], optimized: [] };
      const once = async (graph: GraphFlavour, record: boolean) => {
        const s = sessions[graph];
        const f = feeds(s);
        const t = process.hrtime.bigint();
        await s.run(f);
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        if (record) times[graph].push(ms);
      };
      for (let i = 0; i < 3; i++)
        for (const g of ['portable', 'optimized'] as GraphFlavour[]) await once(g, false);
      for (let r = 0; r < runs; r++) {
        const order: GraphFlavour[] = r % 2 === 0 ? ['portable', 'optimized'] : ['optimized', 'portable'];
        for (const g of order) await once(g, true);
      }
      const p = percentileSorted(
        [...times.portable].sort((a, b) => a - b),
        0.5,
      );
      const o = percentileSorted(
        [...times.optimized].sort((a, b) => a - b),
        0.5,
      );
      console.log(`| ${batch} | ${p.toFixed(1)} | ${o.toFixed(1)} | ${(o / p).toFixed(3)} |`);
    }
    for (const s of Object.values(sessions)) await s.release();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
