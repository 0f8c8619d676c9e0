/**
 * Entry of a thread-pool worker (started by ThreadPool, never imported). It runs one task at a
 * time. Messages in: `{type: 'run', id, kind, input}`, `{type: 'cancel', id}`. Messages out, per
 * task: `{type: 'progress', id, report}`, then one of `{type: 'result', id, result}` or
 * `{type: 'error', id, error}`.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { CancelledError } from '../errors';
import { postWithoutUncloneable, serializeError } from './messages';
import { guardNativeSessions } from './native-guard';
import type { PoolWorkerData, ToHost, ToWorker } from './pool';
import { runTask, threadEnvironment } from './tasks';

function serve(port: NonNullable<typeof parentPort>, data: PoolWorkerData): void {
  // Before any session exists: the pool must never terminate this thread inside a native call.
  if (data.guard) guardNativeSessions(data.guard);
  const env = threadEnvironment(data.hardware, data.backendOptions);
  const running = new Map<number, AbortController>();
  const post = (m: ToHost) => port.postMessage(m);
  port.on('message', (m: ToWorker) => {
    if (m.type === 'cancel') {
      running.get(m.id)?.abort(new CancelledError());
      return;
    }
    const controller = new AbortController();
    running.set(m.id, controller);
    runTask(m.kind, m.input, env, {
      signal: controller.signal,
      onProgress: (report) => post({ type: 'progress', id: m.id, report }),
    })
      .then(
        (result) => post({ type: 'result', id: m.id, result }),
        (err: unknown) =>
          postWithoutUncloneable(post, { type: 'error' as const, id: m.id, error: serializeError(err) }),
      )
      .finally(() => running.delete(m.id));
  });
}

if (!isMainThread && parentPort && (workerData as PoolWorkerData | undefined)?.kind === 'pool') {
  serve(parentPort, workerData as PoolWorkerData);
}
