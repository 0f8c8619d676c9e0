/**
 * Runs a benchmark in a worker thread, isolated from the caller's event loop (the HTTP server's):
 * timed loops never share a thread with request handling, and a cancel that the runner cannot honour
 * in time (a single run longer than the grace period) ends the thread.
 */
import { Worker } from 'node:worker_threads';
import { CancelledError, CoreError, ErrorCode } from '../errors';
import { reviveError, type SerializedError, workerFile } from '../threads/messages';
import type { ProgressFn, ProgressReport } from '../types';
import type { DefaultDepsOptions } from './deps';
import type { BenchmarkRequest, BenchmarkResult } from './types';

/** What the worker receives as workerData. */
export interface WorkerInput {
  kind: 'benchmark';
  request: BenchmarkRequest;
  options: DefaultDepsOptions;
}

export type HostMessage = { type: 'cancel' };

export type WorkerMessage =
  | { type: 'progress'; report: ProgressReport }
  | { type: 'result'; result: BenchmarkResult }
  | { type: 'error'; error: SerializedError };

export interface IsolatedOptions extends DefaultDepsOptions {
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  /** How long a cancelled worker may take to stop by itself before it is terminated, ms. Default 1000. */
  cancelGraceMs?: number;
}

/** The worker entry beside this file, and the exec arguments it needs (ts-node when running from sources). */
export function workerEntry(): { file: string; execArgv: string[] } {
  return workerFile(__dirname, 'worker', __filename);
}

/**
 * Runs {@link runBenchmark} in a worker thread built from serializable inputs: the models as
 * references (models/load's loadImplementation builds them there) and backends by name
 * (createBackends with `backendOptions`). Progress reports are forwarded to `onProgress`.
 * On abort the worker is asked to stop; if it has not within `cancelGraceMs` it is terminated.
 * Rejects with CancelledError when cancelled, with the worker's CoreError when it failed.
 */
export function runBenchmarkIsolated(
  request: BenchmarkRequest,
  options: IsolatedOptions = {},
): Promise<BenchmarkResult> {
  const { onProgress, signal, cancelGraceMs = 1000, repoDir, backendOptions } = options;
  if (signal?.aborted) return Promise.reject(new CancelledError());
  const { file, execArgv } = workerEntry();
  const input: WorkerInput = { kind: 'benchmark', request, options: { repoDir, backendOptions } };

  return new Promise<BenchmarkResult>((resolve, reject) => {
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let worker: Worker;
    try {
      worker = new Worker(file, { workerData: input, execArgv });
    } catch (err) {
      reject(new CoreError(ErrorCode.INTERNAL, `could not start the benchmark worker: ${String(err)}`));
      return;
    }

    const onAbort = () => {
      if (settled) return;
      worker.postMessage({ type: 'cancel' } satisfies HostMessage);
      killTimer = setTimeout(
        () => settle(new CancelledError('benchmark cancelled (worker terminated)')),
        cancelGraceMs,
      );
    };

    function settle(outcome: Error | BenchmarkResult): void {
      if (settled) return;
      settled = true;
      if (killTimer) clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      // Settled only once the thread is gone: a thread still inside a native onnxruntime call must
      // not overlap with the next job on its device (see THREAD_UNSAFE_BACKENDS).
      void worker
        .terminate()
        .catch(() => undefined)
        .then(() => (outcome instanceof Error ? reject(outcome) : resolve(outcome)));
    }

    worker.on('message', (m: WorkerMessage) => {
      if (settled) return;
      switch (m.type) {
        case 'progress':
          try {
            onProgress?.(m.report);
          } catch {
            // A failing progress callback must not break the measurement.
          }
          break;
        case 'result':
          settle(m.result);
          break;
        case 'error':
          settle(reviveError(m.error, 'benchmark worker'));
          break;
      }
    });
    worker.on('error', (err) => {
      settle(new CoreError(ErrorCode.INTERNAL, `benchmark worker crashed: ${err.message}`));
    });
    worker.on('exit', (code) => {
      settle(
        signal?.aborted
          ? new CancelledError()
          : new CoreError(ErrorCode.INTERNAL, `benchmark worker exited (code ${code}) without a result`),
      );
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
