/**
 * Terminating a worker thread while it is inside a native onnxruntime call aborts the whole process:
 * `Worker.terminate()` cannot interrupt the call, and when it returns, the binding's N-API calls
 * fail in the terminating thread and node-addon-api throws a C++ `Napi::Error` that nothing can
 * catch ("terminate called after throwing an instance of 'Napi::Error'", seen in this project's
 * full spec run after a cancelled inference). So a thread and its pool share one word:
 *
 * - the thread wraps onnxruntime-node's native session (`loadModel`, `run`, `dispose`,
 *   `endProfiling`): it marks the word IN_NATIVE for the length of each call, and refuses to enter
 *   one once the pool has marked it TERMINATING;
 * - the pool terminates a thread only after it has moved the word from IN_JS to TERMINATING, so
 *   never while a native call runs; a thread inside one is terminated as soon as the call returns.
 */
import { CancelledError } from '../errors';

export const IN_JS = 0;
export const IN_NATIVE = 1;
export const TERMINATING = 2;

/** The shared word of one thread (the pool creates it and hands it over in workerData). */
export function newGuardWord(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

/** Pool side: claims the thread for termination; false while it is inside a native call. */
export function claimForTermination(word: Int32Array): boolean {
  const was = Atomics.compareExchange(word, 0, IN_JS, TERMINATING);
  return was === IN_JS || was === TERMINATING;
}

type NativeSessionClass = new () => Record<string, (...args: unknown[]) => unknown>;
const GUARDED_METHODS = ['loadModel', 'run', 'dispose', 'endProfiling'] as const;

/**
 * Thread side: from now on, every native session of this thread's onnxruntime-node marks `word`
 * while it runs. Sessions are created as `new binding.InferenceSession()` at call time, so a
 * subclass in its place covers every session made afterwards, by the core or by a generated
 * implementation (which loads the same onnxruntime-node).
 */
export function guardNativeSessions(word: Int32Array): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- onnxruntime-node's own binding
  const { binding } = require('onnxruntime-node/dist/binding') as {
    binding: { InferenceSession: NativeSessionClass & { guarded?: true } };
  };
  if (binding.InferenceSession.guarded) return;
  const Native = binding.InferenceSession;
  class GuardedSession extends Native {}
  Object.defineProperty(GuardedSession, 'guarded', { value: true });
  for (const name of GUARDED_METHODS) {
    const native = Native.prototype[name] as ((...args: unknown[]) => unknown) | undefined;
    if (typeof native !== 'function') continue;
    Object.defineProperty(GuardedSession.prototype, name, {
      value: function (this: unknown, ...args: unknown[]): unknown {
        if (Atomics.compareExchange(word, 0, IN_JS, IN_NATIVE) !== IN_JS) {
          throw new CancelledError('this worker thread is being stopped');
        }
        try {
          return native.apply(this, args);
        } finally {
          Atomics.store(word, 0, IN_JS);
        }
      },
      writable: false,
      enumerable: false,
      configurable: false,
    });
  }
  binding.InferenceSession = GuardedSession;
}
