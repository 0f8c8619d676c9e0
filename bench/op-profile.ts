/**
 * Where an encoder's time goes, per op type, in each graph flavour (random weights at the real size,
 * cpu, graphOptimizationLevel 'all', onnxruntime's own profiler):
 *
 *   npx ts-node --transpile-only bench/op-profile.ts [--model bert-base-uncased] [--batch 1] [--seq 128]
 *
 * Prints each flavour's median latency over 10 runs (after 3 warm-up runs) and the share of kernel
 * time per op type. The MatMul share of the portable graph bounds what fusing the rest can gain.
 * Prints figures only; nothing is asserted.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { resolveModel } from '../libs/core/src/models/registry';
import { buildOnnxModel, type GraphFlavour } from '../libs/core/src/onnx';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

interface ProfileEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string };
}

async function profile(onnxPath: string, dir: string, batch: number, seq: number) {
  const session = await ort.InferenceSession.create(onnxPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    enableProfiling: true,
    profileFilePrefix: join(dir, 'profile'),
  });
  const n = batch * seq;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 7919) % 20000)),
      [batch, seq],
    ),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [batch, seq]),
  };
  if (session.inputNames.includes('token_type_ids')) {
    feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(n), [batch, seq]);
  }
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  session.endProfiling();
  await session.release();
  const file = readdirSync(dir).find((f) => f.startsWith('profile') && f.endsWith('.json'))!;
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
  const byOp = new Map<string, number>();
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.op_name) continue;
    byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + (e.dur ?? 0));
    total += e.dur ?? 0;
  }
  times.sort((a, b) => a - b);
  return { medianMs: (times[4]! + times[5]!) / 2, byOp, total };
}

async function main() {
  const id = arg('model', 'bert-base-uncased');
  const batch = Number(arg('batch', '1'));
  const seq = Number(arg('seq', '128'));
  const source = resolveModel(id);
  console.log(`${id}, batch ${batch}, sequence ${seq}, cpu`);
  for (const graph of ['portable', 'optimized'] as GraphFlavour[]) {
    const dir = mkdtempSync(join(tmpdir(), `op-profile-${graph}-`));
    try {
      const built = await buildOnnxModel({
        config: source.config,
        outDir: dir,
        weights: 'random',
        graph,
        task: 'feature-extraction',
      });
      const { medianMs, byOp, total } = await profile(built.onnxPath, dir, batch, seq);
      console.log(`\n${graph}: median ${medianMs.toFixed(1)} ms; share of kernel time per op type:`);
      for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1])) {
        const share = (100 * us) / total;
        if (share >= 0.1) console.log(`  ${op.padEnd(28)} ${share.toFixed(1).padStart(5)}%`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

void main();
