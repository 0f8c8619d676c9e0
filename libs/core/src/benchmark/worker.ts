/**
 * Worker-thread entry of an isolated benchmark (started by runBenchmarkIsolated, never imported).
 * Messages in: `{ type: 'cancel' }`. Messages out: `{ type: 'progress', report }`, then exactly one of
 * `{ type: 'result', result }` or `{ type: 'error', error }`.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { CancelledError, CoreError, errorMessage } from '../errors';
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
    const error = {
      name: err instanceof Error ? err.name : 'Error',
      code: err instanceof CoreError ? err.code : undefined,
      message: errorMessage(err),
      details: err instanceof CoreError ? err.details : undefined,
    };
    try {
      send({ type: 'error', error });
    } catch {
      // details that cannot be cloned: send the rest
      send({ type: 'error', error: { ...error, details: undefined } });
    }
  } finally {
    port.close();
  }
}

if (!isMainThread && parentPort && (workerData as WorkerInput | undefined)?.kind === 'benchmark') {
  void main(parentPort, workerData as WorkerInput);
}
