/**
 * Generation on this machine: time to first token, time per output token and tokens/s of generated
 * implementations (KV-cache graphs, random fp32 weights at the real size), and what the cache saves.
 *
 *   npx ts-node --transpile-only bench/generation.ts [model ids...] [--prompt 128] [--new 64] [--runs 3]
 *
 * Default models: HuggingFaceTB/SmolLM2-135M and TinyLlama/TinyLlama-1.1B-Chat-v1.0, batch 1, cpu.
 * Per model:
 * - the generator pipeline builds the KV-cache graph and its implementation into a temporary folder;
 *   one warm-up generate(), then `runs` measured generate() calls of `new` tokens after a seeded
 *   prompt of `prompt` tokens (no EOS stop): TTFT (median over runs), TPOT p50/p90/p99 (over every
 *   decode step of every run), decode tokens/s (1000 / mean TPOT) and total tokens/s;
 * - the same model built as the full-sequence graph (no cache): the median of 3 passes over
 *   prompt + new tokens (context 192 by default), i.e. what recomputing costs per new token at that
 *   context, against the mean time of the last 8 decode steps with the cache (context ~185-192).
 *   Target: the cache makes a token at least 5x cheaper than recomputing.
 * Each graph is released before the next is built (TinyLlama is 4.4 GB in fp32). Prints figures only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { percentileSorted } from '../libs/core/src/benchmark/stats';
import { runGenerationPipeline } from '../libs/core/src/generator/pipeline';
import { loadImplementation } from '../libs/core/src/models/load';
import { resolveModel } from '../libs/core/src/models/registry';
import { buildOnnxModel } from '../libs/core/src/onnx';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const PROMPT = arg('prompt', 128);
const NEW = arg('new', 64);
const RUNS = arg('runs', 3);
const ctx = { signal: new AbortController().signal, onProgress: () => undefined };

function seededIds(n: number, vocab: number): number[] {
  let s = 12345;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % vocab;
  });
}

const p = (sorted: number[], q: number) => percentileSorted(sorted, q);

async function measure(id: string): Promise<void> {
  const source = resolveModel(id);
  const vocab = Number(source.config.vocab_size);
  const prompt = seededIds(PROMPT, vocab);
  const root = mkdtempSync(join(tmpdir(), 'bench-generation-'));
  try {
    let t = performance.now();
    const built = await runGenerationPipeline(
      { source, outDir: join(root, 'kv'), weights: 'random', precision: 'fp32', backends: ['cpu'], seed: 0 },
      ctx,
    );
    const buildS = (performance.now() - t) / 1000;
    const impl = await loadImplementation({ kind: 'module', path: built.jsPath });
    const handle = await impl.load({ backend: 'cpu' });
    const opts = { maxNewTokens: NEW, eosTokenId: [] as number[], decode: false };
    await handle.generate!([prompt], opts);
    const ttft: number[] = [];
    const steps: number[] = [];
    const totals: number[] = [];
    const tail: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const out = await handle.generate!([prompt], opts);
      ttft.push(out.timings.prefillMs);
      steps.push(...out.timings.stepMs);
      totals.push(out.timings.totalMs);
      tail.push(...out.timings.stepMs.slice(-8));
    }
    await handle.release();
    const sortedSteps = [...steps].sort((a, b) => a - b);
    const meanStep = steps.reduce((a, b) => a + b, 0) / steps.length;
    const meanTotal = totals.reduce((a, b) => a + b, 0) / totals.length;
    const meanTail = tail.reduce((a, b) => a + b, 0) / tail.length;
    rmSync(join(root, 'kv'), { recursive: true, force: true });

    // The full-sequence graph: one pass over prompt + new tokens is what recomputing costs per token.
    t = performance.now();
    const full = await buildOnnxModel({
      config: source.config,
      outDir: join(root, 'full'),
      weights: 'random',
      kvCache: false,
      seed: 0,
    });
    const fullBuildS = (performance.now() - t) / 1000;
    const session = await ort.InferenceSession.create(full.onnxPath, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
    });
    const context = PROMPT + NEW;
    const ids = seededIds(context, vocab);
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, context]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(context).fill(1n), [1, context]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, context]),
    };
    await session.run(feeds);
    const passes: number[] = [];
    for (let r = 0; r < 3; r++) {
      const s = performance.now();
      await session.run(feeds);
      passes.push(performance.now() - s);
    }
    await session.release();
    const fullPass = p(
      [...passes].sort((a, b) => a - b),
      0.5,
    );

    console.log(
      `\n${id} (${(built.parameters / 1e6).toFixed(1)}M parameters, random fp32 weights), cpu, batch 1`,
    );
    console.log(
      `  build: KV-cache graph + implementation ${buildS.toFixed(1)} s, full-sequence graph ${fullBuildS.toFixed(1)} s`,
    );
    console.log(
      `| prompt | new | TTFT ms | TPOT p50 ms | TPOT p90 ms | TPOT p99 ms | decode tokens/s | total tokens/s | full pass at ${context} ms | cache saving |`,
    );
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    console.log(
      `| ${PROMPT} | ${NEW} | ${p(
        [...ttft].sort((a, b) => a - b),
        0.5,
      ).toFixed(1)} | ${p(sortedSteps, 0.5).toFixed(1)} | ` +
        `${p(sortedSteps, 0.9).toFixed(1)} | ${p(sortedSteps, 0.99).toFixed(1)} | ${(1000 / meanStep).toFixed(2)} | ` +
        `${((NEW * 1000) / meanTotal).toFixed(2)} | ${fullPass.toFixed(1)} | ${(fullPass / meanTail).toFixed(1)}x |`,
    );
    console.log(
      `  last 8 decode steps (context ${context - 8}..${context - 1}) with the cache: ${meanTail.toFixed(1)} ms each; ` +
        `recomputing the full sequence instead: ${fullPass.toFixed(1)} ms per token`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const ids = process.argv
    .slice(2)
    .filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
  for (const id of ids.length ? ids : ['HuggingFaceTB/SmolLM2-135M', 'TinyLlama/TinyLlama-1.1B-Chat-v1.0']) {
    await measure(id);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
