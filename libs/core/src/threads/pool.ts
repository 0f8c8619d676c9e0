/**
 * A pool of worker threads that run the core's CPU-heavy work (test runs, model generation,
 * benchmarks) off
 * the caller's event loop. onnxruntime-node creates sessions and runs inference synchronously,
 * and the graph builder and the TypeScript compiler are synchronous too: on the HTTP server's
 * thread they stall every request, WebSocket update and queue heartbeat for as long as they run
 * (seconds for a full-size model).
 *
 * Threads are started on demand, up to `size`, and kept: a warm thread has its modules loaded and
 * its backends detected. Each runs one task at a time; more tasks wait for a free thread. A task's
 * AbortSignal is passed on to the thread, where the core stops cooperatively; a thread that has not
 * stopped within `cancelGraceMs` is terminated (and replaced on the next task). A thread that
 * crashes fails only its own task.
 */
import { Worker } from 'node:worker_threads';
import type { OrtBackendOptions } from '../backends';
import { CancelledError, CoreError, ErrorCode } from '../errors';
import type { BackendName, ProgressFn, ProgressReport } from '../types';
import { reviveError, type SerializedError, workerFile } from './messages';
import { claimForTermination, newGuardWord } from './native-guard';
import { TASK_NAMES, type TaskKind, type Tasks } from './tasks';

export interface PoolWorkerData {
  kind: 'pool';
  hardware: BackendName[];
  backendOptions?: OrtBackendOptions;
  /** Shared with the pool: whether the thread is inside a native onnxruntime call (native-guard.ts). */
  guard?: Int32Array;
}

export type ToWorker =
  | { type: 'run'; id: number; kind: TaskKind; input: Tasks[TaskKind]['input'] }
  | { type: 'cancel'; id: number };

export type ToHost =
  | { type: 'progress'; id: number; report: ProgressReport }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; error: SerializedError };

export interface ThreadPoolOptions {
  /** Threads at most; tasks beyond wait for a free one. */
  size: number;
  /** The backends each thread builds (onnxruntime backends by name, with these options). */
  hardware: BackendName[];
  backendOptions?: OrtBackendOptions;
  /** How long a cancelled task may take to stop before its thread is terminated, ms. Default 1000. */
  cancelGraceMs?: number;
}

export interface TaskOptions {
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

interface Running {
  id: number;
  what: string;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  onProgress?: ProgressFn;
  done: () => void;
}

interface Slot {
  worker: Worker;
  /** IN_JS / IN_NATIVE / TERMINATING (native-guard.ts). */
  guard: Int32Array;
  /** The thread has exited (crashed or terminated): nothing is left to wait for. */
  exited?: boolean;
  /** The task it runs, or RESERVED between being picked and being handed its task. */
  task?: Running;
}

/** How often a thread to be terminated is checked for having left its native call, ms. */
const NATIVE_POLL_MS = 10;

const RESERVED: Running = {
  id: 0,
  what: 'reserved',
  resolve: () => undefined,
  reject: () => undefined,
  done: () => undefined,
};

/** The worker entry beside this file, and the exec arguments it needs (ts-node when running from sources). */
export function poolWorkerEntry(): { file: string; execArgv: string[] } {
  return workerFile(__dirname, 'worker', __filename);
}

export class ThreadPool {
  private readonly slots = new Set<Slot>();
  private readonly waiting: Array<() => void> = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: ThreadPoolOptions) {
    if (!(options.size >= 1)) throw new Error(`thread pool size must be at least 1 (got ${options.size})`);
  }

  /** Threads started and alive. */
  get threads(): number {
    return this.slots.size;
  }

  run<K extends TaskKind>(
    kind: K,
    input: Tasks[K]['input'],
    opts: TaskOptions = {},
  ): Promise<Tasks[K]['result']> {
    return this.acquire(opts).then(
      (slot) => this.start(slot, kind, input, opts) as Promise<Tasks[K]['result']>,
    );
  }

  /** Terminates every thread; running and waiting tasks fail with INTERRUPTED. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all(
      [...this.slots].map((s) =>
        this.discard(
          s,
          new CoreError(ErrorCode.INTERRUPTED, 'thread pool closed (shutting down) while this task ran'),
        ),
      ),
    );
  }

  /** A free thread (started if there are fewer than `size`); waits, cancellably, while all are busy. */
  private async acquire(opts: TaskOptions): Promise<Slot> {
    let told = false;
    for (;;) {
      if (this.closed) throw new CoreError(ErrorCode.INTERRUPTED, 'thread pool closed (shutting down)');
      if (opts.signal?.aborted) throw new CancelledError();
      for (const slot of this.slots)
        if (!slot.task) {
          slot.task = RESERVED;
          return slot;
        }
      if (this.slots.size < this.options.size) {
        const slot = this.spawn();
        slot.task = RESERVED;
        return slot;
      }
      if (!told) {
        told = true;
        opts.onProgress?.({
          progress: 0,
          step: `waiting for a free worker thread (${this.options.size} busy)`,
        });
      }
      await new Promise<void>((wake) => {
        const onAbort = () => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          wake();
        };
        const waiter = () => {
          opts.signal?.removeEventListener('abort', onAbort);
          wake();
        };
        this.waiting.push(waiter);
        if (opts.signal?.aborted) onAbort();
        else opts.signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  private spawn(): Slot {
    const { file, execArgv } = poolWorkerEntry();
    const guard = newGuardWord();
    const data: PoolWorkerData = {
      kind: 'pool',
      hardware: this.options.hardware,
      backendOptions: this.options.backendOptions,
      guard,
    };
    const worker = new Worker(file, { workerData: data, execArgv });
    const slot: Slot = { worker, guard };
    this.slots.add(slot);
    worker.on('message', (m: ToHost) => this.onMessage(slot, m));
    worker.on(
      'error',
      (err) =>
        void this.discard(slot, new CoreError(ErrorCode.INTERNAL, `worker thread crashed: ${err.message}`)),
    );
    worker.on('exit', (code) => {
      slot.exited = true;
      void this.discard(slot, new CoreError(ErrorCode.INTERNAL, `worker thread exited (code ${code})`));
    });
    return slot;
  }

  private start(slot: Slot, kind: TaskKind, input: unknown, opts: TaskOptions): Promise<unknown> {
    const { signal, onProgress } = opts;
    const id = this.nextId++;
    const what = TASK_NAMES[kind];
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        slot.task = undefined;
        this.release(slot);
        return reject(new CancelledError());
      }
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        slot.worker.postMessage({ type: 'cancel', id } satisfies ToWorker);
        killTimer = setTimeout(
          () => void this.discard(slot, new CancelledError(`${what} cancelled (worker thread terminated)`)),
          this.options.cancelGraceMs ?? 1000,
        );
      };
      const done = () => {
        if (killTimer) clearTimeout(killTimer);
        signal?.removeEventListener('abort', onAbort);
      };
      slot.task = { id, what, resolve, reject, onProgress, done };
      slot.worker.ref();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        slot.worker.postMessage({ type: 'run', id, kind, input } as ToWorker);
      } catch (err) {
        // input that cannot be cloned: nothing was sent, the thread stays usable
        slot.task = undefined;
        done();
        this.release(slot);
        reject(
          new CoreError(ErrorCode.INTERNAL, `${what} could not be handed to a worker thread: ${String(err)}`),
        );
      }
    });
  }

  private onMessage(slot: Slot, m: ToHost): void {
    const task = slot.task;
    if (!task || m.id !== task.id) return; // a late message of a task already settled
    if (m.type === 'progress') {
      try {
        task.onProgress?.(m.report);
      } catch {
        // a failing progress callback must not break the task
      }
      return;
    }
    slot.task = undefined;
    task.done();
    this.release(slot);
    if (m.type === 'result') task.resolve(m.result);
    else task.reject(reviveError(m.error, task.what));
  }

  /** The thread is free again (its task cleared): idle threads do not keep the process alive. */
  private release(slot: Slot): void {
    if (!this.slots.has(slot)) return;
    slot.worker.unref();
    this.waiting.shift()?.();
  }

  /** Ends a thread (crashed, exited, or not stopping after a cancel); its task, if any, fails with `err`. */
  private async discard(slot: Slot, err: Error): Promise<void> {
    if (!this.slots.delete(slot)) return;
    const task = slot.task;
    slot.task = undefined;
    task?.done();
    this.waiting.shift()?.();
    // Never terminated inside a native onnxruntime call (that aborts the process, native-guard.ts):
    // a thread in one is terminated as soon as the call returns.
    while (!slot.exited && !claimForTermination(slot.guard)) {
      await new Promise((r) => setTimeout(r, NATIVE_POLL_MS));
    }
    // The task fails only once its thread is gone: a thread still inside a native onnxruntime call
    // must not overlap with the next job on its device (see THREAD_UNSAFE_BACKENDS).
    await slot.worker.terminate().catch(() => undefined);
    task?.reject(err);
  }
}
