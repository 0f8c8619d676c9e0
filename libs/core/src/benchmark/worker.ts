/**
 * Worker-thread entry of an isolated benchmark (started by runBenchmarkIsolated, never imported).
 * Messages in: `{ type: 'cancel' }`. Messages out: `{ type: 'progress', report }`, then exactly one of
 * `{ type: 'result', result }` or `{ type: 'error', error }`.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { CancelledError } from '../errors';
import { postWithoutUncloneable, serializeError } from '../threads/messages';
import { createDefaultDeps } from './deps';
import type { HostMessage, WorkerInput, WorkerMessage } from './isolated';
import { runBenchmark } from './runner';

async function main(port: NonNullable<typeof parentPort>, input: WorkerInput): Promise<void> {
  const controller = new AbortController();
  const send = (m: WorkerMessage) => port.postMessage(m);
  port.on('message', (m: HostMessage) => {
    if (m?.type === 'cancel') controller.abort(new CancelledError());
  });
  try {
    const deps = createDefaultDeps(input.request.hardware ?? [], input.options);
    const result = await runBenchmark(input.request, deps, {
      signal: controller.signal,
      onProgress: (report) => send({ type: 'progress', report }),
    });
    send({ type: 'result', result });
  } catch (err) {
    postWithoutUncloneable(send, { type: 'error' as const, error: serializeError(err) });
  } finally {
    port.close();
  }
}

if (!isMainThread && parentPort && (workerData as WorkerInput | undefined)?.kind === 'benchmark') {
  void main(parentPort, workerData as WorkerInput);
}
