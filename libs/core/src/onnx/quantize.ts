/**
 * Weight quantization for the generator's `int8` and `int4` precisions, done tensor by tensor as each
 * weight streams into the graph (a model is never held twice in memory):
 *
 * - int8: symmetric per-column (per output channel) quantization of a MatMul weight, for
 *   com.microsoft DynamicQuantizeMatMul: B int8 [K, N], b_scale float [N] (zero point 0), the
 *   activations quantized to uint8 at run time. What onnxruntime's `quantize_dynamic` with
 *   `per_channel` produces after its MatMulIntegerToFloat fusion.
 * - int4: weight-only blockwise asymmetric quantization for com.microsoft MatMulNBits (bits 4): each
 *   column of the weight cut into blocks of `blockSize` values along K, each block with its own float
 *   scale and 4-bit zero point; B uint8 [N, blocks, blockSize / 2] (two values a byte, the lower index
 *   in the low nibble), scales float [N × blocks], zero points uint8 [N × ceil(blocks / 2)] packed the
 *   same way. The last block of a K that is not a multiple of the block size is padded with zeros.
 *   The layout of onnxruntime's `MatMulNBitsQuantizer` (matmul_nbits_quantizer.py) and
 *   onnxruntime-genai's model builder.
 */

/** int8 per-column quantization of a weight stored [K, N] (row-major, K = in features). */
export interface Int8Weight {
  /** [K, N] */
  q: Int8Array;
  /** [N]: w ≈ q × scale[n] */
  scale: Float32Array;
}

export function quantizeInt8PerColumn(w: Float32Array, K: number, N: number): Int8Weight {
  const maxAbs = new Float32Array(N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) {
      const a = Math.abs(w[row + n]!);
      if (a > maxAbs[n]!) maxAbs[n] = a;
    }
  }
  const scale = new Float32Array(N);
  const inv = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    // An all-zero column keeps scale 1 (its values quantize to 0 either way).
    scale[n] = maxAbs[n]! > 0 ? maxAbs[n]! / 127 : 1;
    inv[n] = 1 / scale[n]!;
  }
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) {
      const v = Math.round(w[row + n]! * inv[n]!);
      q[row + n] = v > 127 ? 127 : v < -127 ? -127 : v;
    }
  }
  return { q, scale };
}

/** Dequantizes an int8 weight back to [K, N] floats (for specs and error reports). */
export function dequantizeInt8(weight: Int8Weight, K: number, N: number): Float32Array {
  const out = new Float32Array(K * N);
  for (let k = 0; k < K; k++)
    for (let n = 0; n < N; n++) out[k * N + n] = weight.q[k * N + n]! * weight.scale[n]!;
  return out;
}

/** A MatMulNBits (bits 4) weight. */
export interface Int4Weight {
  /** [N, blocks, blockSize / 2] */
  packed: Uint8Array;
  /** [N × blocks] */
  scales: Float32Array;
  /** [N × ceil(blocks / 2)] */
  zeroPoints: Uint8Array;
  blocks: number;
}

export const INT4_BLOCK_SIZES = [16, 32, 64, 128, 256] as const;

/**
 * Blockwise asymmetric 4-bit quantization of a weight given transposed, [N, K] (nn.Linear's own
 * [out, in] layout), so every block is contiguous.
 */
export function quantizeInt4Blockwise(wT: Float32Array, K: number, N: number, blockSize: number): Int4Weight {
  const blocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const zpBytes = Math.ceil(blocks / 2);
  const packed = new Uint8Array(N * blocks * blob);
  const scales = new Float32Array(N * blocks);
  const zeroPoints = new Uint8Array(N * zpBytes);
  const column = new Float32Array(blockSize);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const k0 = b * blockSize;
      const len = Math.min(blockSize, K - k0);
      // The range always holds 0, so zero padding and exact zeros stay exact.
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < len; i++) {
        const v = wT[n * K + k0 + i]!;
        column[i] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      column.fill(0, len);
      const scale = hi > lo ? (hi - lo) / 15 : 1;
      const zp = Math.min(15, Math.max(0, Math.round(-lo / scale)));
      scales[n * blocks + b] = scale;
      const zpAt = n * zpBytes + (b >> 1);
      zeroPoints[zpAt] = zeroPoints[zpAt]! | (b & 1 ? zp << 4 : zp);
      const base = (n * blocks + b) * blob;
      for (let i = 0; i < blockSize; i += 2) {
        const lowQ = Math.min(15, Math.max(0, Math.round(column[i]! / scale) + zp));
        const highQ = Math.min(15, Math.max(0, Math.round(column[i + 1]! / scale) + zp));
        packed[base + (i >> 1)] = lowQ | (highQ << 4);
      }
    }
  }
  return { packed, scales, zeroPoints, blocks };
}

/** Dequantizes a MatMulNBits weight back to [K, N] floats (for specs and error reports). */
export function dequantizeInt4(weight: Int4Weight, K: number, N: number, blockSize: number): Float32Array {
  const { blocks } = weight;
  const blob = blockSize / 2;
  const zpBytes = Math.ceil(blocks / 2);
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const zpByte = weight.zeroPoints[n * zpBytes + (b >> 1)]!;
      const zp = b & 1 ? zpByte >> 4 : zpByte & 15;
      const scale = weight.scales[n * blocks + b]!;
      for (let i = 0; i < blockSize; i++) {
        const k = b * blockSize + i;
        if (k >= K) break;
        const byte = weight.packed[(n * blocks + b) * blob + (i >> 1)]!;
        const q = i & 1 ? byte >> 4 : byte & 15;
        out[k * N + n] = (q - zp) * scale;
      }
    }
  }
  return out;
}

/** The same int8 weight as com.microsoft MatMulNBits (bits 8) takes it. */
export interface Int8NBitsWeight {
  /** [N, blocks, blockSize]: q + 128 (MatMulNBits' default 8-bit zero point), zero padded. */
  packed: Uint8Array;
  /** [N × blocks]: each column's scale, repeated for every block. */
  scales: Float32Array;
  blocks: number;
}

/**
 * Re-lays an int8 per-column weight ([K, N], quantizeInt8PerColumn) for MatMulNBits with bits 8, for
 * the execution providers that have no DynamicQuantizeMatMul (cuda, webgpu): the same quantized
 * values and scales, so both graphs hold one set of weights; those providers then compute with float
 * activations (weight-only) where the cpu one quantizes them too. The padding of the last block
 * stores 128, which dequantizes to 0.
 */
export function int8ToNBits(weight: Int8Weight, K: number, N: number, blockSize: number): Int8NBitsWeight {
  const blocks = Math.ceil(K / blockSize);
  const row = blocks * blockSize;
  const packed = new Uint8Array(N * row).fill(128);
  const scales = new Float32Array(N * blocks);
  for (let n = 0; n < N; n++) {
    scales.fill(weight.scale[n]!, n * blocks, (n + 1) * blocks);
    const base = n * row;
    for (let k = 0; k < K; k++) packed[base + k] = weight.q[k * N + n]! + 128;
  }
  return { packed, scales, blocks };
}
