/** Tensor comparisons and checks the Test core shares (framework-free, allocation-light). */
import type { Tensor } from 'onnxruntime-node';
import type { Outputs, TensorSpec } from '../types';

export interface NumericData {
  data: ArrayLike<number | bigint>;
  dims: readonly number[];
}

export interface Difference {
  /** Max |a - b|. */
  max_abs_error: number;
  /** Max |a - b| / max(|b|, 1e-12) (b: the reference). */
  max_rel_error: number;
  /** Elements compared. */
  count: number;
  /** Differences that are NaN/Inf on one side only. */
  nonfinite_mismatches: number;
}

function num(v: number | bigint): number {
  return typeof v === 'bigint' ? Number(v) : v;
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Element-wise difference of `actual` against the reference `expected` (dims must match). */
export function difference(actual: NumericData, expected: NumericData): Difference {
  const n = expected.data.length;
  let maxAbs = 0;
  let maxRel = 0;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const a = num(actual.data[i]!);
    const b = num(expected.data[i]!);
    if (!Number.isFinite(a) || !Number.isFinite(b)) {
      if (!Object.is(a, b)) bad++;
      continue;
    }
    const d = Math.abs(a - b);
    if (d > maxAbs) maxAbs = d;
    const r = d / Math.max(Math.abs(b), 1e-12);
    if (r > maxRel) maxRel = r;
  }
  return { max_abs_error: maxAbs, max_rel_error: maxRel, count: n, nonfinite_mismatches: bad };
}

/** Whether two tensors hold exactly the same bytes (and dims). */
export function bitwiseEqual(a: Tensor, b: Tensor): boolean {
  if (a.type !== b.type || !sameDims(a.dims, b.dims)) return false;
  const x = a.data as ArrayLike<unknown> & {
    buffer?: ArrayBufferLike;
    byteOffset?: number;
    byteLength?: number;
  };
  const y = b.data as typeof x;
  if (ArrayBuffer.isView(x) && ArrayBuffer.isView(y)) {
    if (x.byteLength !== y.byteLength) return false;
    const u = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    const v = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
    for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return false;
    return true;
  }
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Count of NaN/Inf values (0 for non-float tensors). */
export function nonFiniteCount(t: Tensor): number {
  if (t.type !== 'float32' && t.type !== 'float64' && t.type !== 'float16') return 0;
  if (t.type === 'float16') {
    const d = t.data as ArrayLike<number>;
    // float16 data may arrive as raw Uint16 bits: exponent all ones is Inf/NaN.
    let bad = 0;
    const raw = (d as { constructor?: { name?: string } }).constructor?.name === 'Uint16Array';
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (raw ? (v & 0x7c00) === 0x7c00 : !Number.isFinite(v)) bad++;
    }
    return bad;
  }
  const d = t.data as ArrayLike<number>;
  let bad = 0;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) bad++;
  return bad;
}

export interface SignatureCheck {
  ok: boolean;
  problems: string[];
  /** Output-only symbols and the sizes they took (e.g. MatMullogits_dim_1 → 8). */
  output_symbols: Record<string, number>;
}

/**
 * Outputs against the declared outputs: every declared name present, dtype equal, rank equal,
 * fixed dims equal, input symbols equal to their resolved size, output-only symbols any
 * positive (non-negative when `allowEmpty`) size but the same size wherever they appear.
 */
export function checkOutputSignature(
  outputs: Outputs,
  declared: readonly TensorSpec[],
  dims: Record<string, number>,
  options: { allowEmpty?: boolean } = {},
): SignatureCheck {
  const problems: string[] = [];
  const outputSymbols: Record<string, number> = {};
  for (const spec of declared) {
    const t = outputs[spec.name];
    if (!t) {
      problems.push(`missing output ${spec.name}`);
      continue;
    }
    if (t.type !== spec.dtype) problems.push(`${spec.name}: dtype ${t.type}, declared ${spec.dtype}`);
    if (t.dims.length !== spec.shape.length) {
      problems.push(
        `${spec.name}: shape [${t.dims.join(', ')}], declared rank ${spec.shape.length} [${spec.shape.join(', ')}]`,
      );
      continue;
    }
    spec.shape.forEach((d, i) => {
      const actual = t.dims[i]!;
      if (typeof d === 'number') {
        if (d >= 0 && actual !== d) problems.push(`${spec.name}: axis ${i} is ${actual}, declared ${d}`);
      } else if (d in dims) {
        if (actual !== dims[d])
          problems.push(`${spec.name}: axis ${i} (${d}) is ${actual}, expected ${dims[d]}`);
      } else if (d in outputSymbols) {
        if (actual !== outputSymbols[d])
          problems.push(
            `${spec.name}: axis ${i} (${d}) is ${actual} but ${outputSymbols[d]} in another output`,
          );
      } else {
        if (actual < 0 || (actual === 0 && !options.allowEmpty))
          problems.push(`${spec.name}: axis ${i} (${d}) has size ${actual}`);
        outputSymbols[d] = actual;
      }
    });
  }
  const extra = Object.keys(outputs).filter((n) => !declared.some((s) => s.name === n));
  if (extra.length) problems.push(`undeclared outputs: ${extra.join(', ')}`);
  return { ok: problems.length === 0, problems, output_symbols: outputSymbols };
}
