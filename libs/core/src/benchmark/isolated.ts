/**
 * Runs a benchmark in a worker thread, isolated from the caller's event loop (the HTTP server's):
 * timed loops never share a thread with request handling, and a cancel that the runner cannot honour
 * in time (a single run longer than the grace period) ends the thread.
 */
import { CancelledError } from '../errors';
import { ThreadPool } from '../threads/pool';
import type { ProgressFn } from '../types';
import type { DefaultDepsOptions } from './deps';
import type { BenchmarkRequest, BenchmarkResult } from './types';

export interface IsolatedOptions extends DefaultDepsOptions {
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  /** How long a cancelled worker may take to stop by itself before it is terminated, ms. Default 1000. */
  cancelGraceMs?: number;
}

/**
 * Runs {@link runBenchmark} in a fresh worker thread of its own (a one-thread ThreadPool, closed
 * after the run, so every measurement starts from a clean heap), built from serializable inputs:
 * the models as references (models/load's loadImplementation builds them there) and backends by
 * name (createBackends with `backendOptions`). Progress reports are forwarded to `onProgress`.
 * On abort the worker is asked to stop; if it has not within `cancelGraceMs` it is terminated.
 * Rejects with CancelledError when cancelled, with the worker's CoreError when it failed.
 */
export async function runBenchmarkIsolated(
  request: BenchmarkRequest,
  options: IsolatedOptions = {},
): Promise<BenchmarkResult> {
  const { onProgress, signal, cancelGraceMs, repoDir, backendOptions } = options;
  if (signal?.aborted) throw new CancelledError();
  const pool = new ThreadPool({
    size: 1,
    hardware: [...new Set(request.hardware ?? [])],
    backendOptions,
    cancelGraceMs,
  });
  try {
    return await pool.run('benchmark', { request, repoDir }, { onProgress, signal });
  } finally {
    await pool.close();
  }
}
