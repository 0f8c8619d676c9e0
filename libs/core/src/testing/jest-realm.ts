/**
 * Spec helper, imported FIRST by specs that run onnxruntime-node under Jest.
 *
 * Jest runs each spec file in its own vm context, so its `Float32Array` differs from the host
 * realm's. onnxruntime-node's native binding creates output typed arrays in the host realm and
 * onnxruntime-common's Tensor constructor then rejects them (`A float32 tensor's data must be
 * type of function Float32Array()`). Making the spec realm use the host's typed-array
 * constructors fixes that. Outside Jest this is a no-op (the constructors are already the host's).
 * Better placed in test/setup-env.js, where it would cover every spec.
 */
import { runInThisContext } from 'node:vm';

export const TYPED_ARRAY_NAMES = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

export function adoptHostTypedArrays(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  for (const name of TYPED_ARRAY_NAMES) {
    const host = runInThisContext(name) as unknown;
    if (g[name] !== host) g[name] = host;
  }
}

adoptHostTypedArrays();
