/**
 * Which execution providers run the com.microsoft ops the generator emits, in onnxruntime 1.30 with
 * float32 compute (from each provider's contrib kernel registry: cpu_contrib_kernels.cc,
 * cuda_contrib_kernels.cc, webgpu_contrib_kernels.cc). A provider without a kernel leaves the node to
 * the cpu provider (onnxruntime's fallback: the tensors cross to host memory and back). The cpu and
 * webgpu rows are checked against onnxruntime's own node placement (its profiler) in
 * contrib-ops.spec.ts; the cuda row is the registry's word (no CUDA here).
 */
import type { BackendName } from '../types';

export const CONTRIB_OP_PROVIDERS: Readonly<Record<string, readonly BackendName[]>> = {
  MultiHeadAttention: ['cpu', 'cuda', 'webgpu'],
  SkipLayerNormalization: ['cpu', 'cuda', 'webgpu'],
  BiasGelu: ['cpu', 'cuda', 'webgpu'],
  FastGelu: ['cpu', 'cuda', 'webgpu'],
  MatMulNBits: ['cpu', 'cuda', 'webgpu'],
  DynamicQuantizeMatMul: ['cpu'],
  RotaryEmbedding: ['cpu', 'cuda', 'webgpu'],
  SimplifiedLayerNormalization: ['cpu', 'cuda', 'webgpu'],
  SkipSimplifiedLayerNormalization: ['cpu', 'cuda', 'webgpu'],
};

/** Whether `backend`'s execution provider has a kernel for `op` (an op not in the table: cpu only). */
export function runsNatively(op: string, backend: BackendName): boolean {
  return CONTRIB_OP_PROVIDERS[op]?.includes(backend) ?? backend === 'cpu';
}

/** Whether `backend`'s execution provider runs every one of `contribOps` itself. */
export function runsAllNatively(contribOps: readonly string[], backend: BackendName): boolean {
  return contribOps.every((op) => runsNatively(op, backend));
}

/** Per backend: the contrib ops it runs itself, and those it leaves to the cpu provider. */
export interface BackendOps {
  native: string[];
  cpu_fallback: string[];
}

export function backendOps(
  contribOps: readonly string[],
  backends: readonly BackendName[],
): Partial<Record<BackendName, BackendOps>> {
  const out: Partial<Record<BackendName, BackendOps>> = {};
  for (const backend of backends) {
    const ops = [...new Set(contribOps)].sort();
    out[backend] = {
      native: ops.filter((op) => runsNatively(op, backend)),
      cpu_fallback: ops.filter((op) => !runsNatively(op, backend)),
    };
  }
  return out;
}
