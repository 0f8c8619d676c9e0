/**
 * Measures the real memory of one inference, for the estimator's specs and bench/memory.ts: opens a
 * CPU session on an ONNX file, runs it once at a batch × sequence shape (inputs as the core makes
 * them) and prints the process's peak RSS (VmHWM: util/peak-rss.ts) minus its RSS before the session,
 * as one JSON line. Run it in a process of its own, so nothing else shares the peak:
 *
 *   node -r ts-node/register/transpile-only test/peak-rss.ts <model.onnx> <batch> <sequence>
 */
import * as ort from 'onnxruntime-node';
import { makeInputs } from '../libs/core/src/models/inputs';
import { readOnnxIo } from '../libs/core/src/models/onnx-file';
import { peakRssBytes } from '../libs/core/src/util/peak-rss';

async function main(): Promise<void> {
  const [path, batch, sequence] = process.argv.slice(2);
  if (!path || !batch || !sequence) throw new Error('usage: peak-rss.ts <model.onnx> <batch> <sequence>');
  const before = process.memoryUsage.rss();
  const io = await readOnnxIo(path);
  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'],
    logSeverityLevel: 3,
  });
  const feeds = makeInputs(
    { inputs: io.inputs },
    { batchSize: Number(batch), sequenceLength: Number(sequence), seed: 0 },
  );
  await session.run(feeds as unknown as Record<string, ort.Tensor>);
  const peak = peakRssBytes();
  await session.release();
  console.log(JSON.stringify({ before_bytes: before, peak_bytes: peak, growth_bytes: peak - before }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
