/**
 * Weight sources for the graph builder. A family asks for a tensor by its Hugging Face name (as the
 * base model names it, without a head prefix such as `bert.`) and the shape the checkpoint holds it in,
 * and gets float32 values:
 *
 * ```ts
 * const w = weights.get('encoder.layer.0.attention.self.query.weight', [hidden, hidden]); // [out, in]
 * g.weight('q.w', transpose2d(w, hidden, hidden), [hidden, hidden]);                    // [in, out]
 * // or in one go:
 * g.weight('q.w', weights.linear('encoder.layer.0.attention.self.query.weight', hidden, hidden), [hidden, hidden]);
 * ```
 *
 * - `random`: seeded normal values (std = initializer_range, default 0.02) for weights, ones for
 *   LayerNorm/RMSNorm scales, zeros for biases; the init is chosen from the name unless given.
 * - `safetensors`: one file or a sharded checkpoint (model.safetensors.index.json, or every shard
 *   path given). Names are resolved through prefixes (`bert.`, `transformer.`, `model.`, ...), legacy
 *   LayerNorm names (`gamma`/`beta`) and, last, a unique suffix match. F16/BF16 are converted by the
 *   reader. A missing tensor or a shape mismatch is a CoreError(INVALID_MODEL) naming the tensor.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CoreError, ErrorCode } from '../errors';
import { SeededRandom } from '../util/random';
import { SafetensorsFile } from '../util/safetensors';

export type WeightInit = 'normal' | 'ones' | 'zeros' | { normal: number } | { constant: number };

export interface GetOptions {
  /** How a random source fills it; default from the name (bias → zeros, norm weight → ones, else normal). */
  init?: WeightInit;
}

export interface WeightSource {
  readonly kind: 'random' | 'safetensors';
  /**
   * Whether the tensor exists. A random source reports every tensor as present (the architecture
   * decides); a checkpoint reports what it holds.
   */
  has(name: string): boolean;
  /** float32 values of `name`, checked against `shape` (the checkpoint layout). */
  get(name: string, shape: number[], options?: GetOptions): Float32Array;
  /** An nn.Linear weight ([out, in] in the checkpoint) transposed to [in, out] for MatMul. */
  linear(name: string, inFeatures: number, outFeatures: number): Float32Array;
  close(): void;
}

/** Transposes a row-major [rows, cols] matrix to [cols, rows]. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  if (data.length !== rows * cols) {
    throw new CoreError(ErrorCode.INTERNAL, `transpose2d: ${data.length} values for [${rows}, ${cols}]`);
  }
  const out = new Float32Array(data.length);
  const B = 64; // blocked for cache locality on large matrices
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const row = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = data[row + c]!;
      }
    }
  }
  return out;
}

/** The init a random source uses for a name when none is given. */
export function defaultInit(name: string): WeightInit {
  const last = name.split('.').pop() ?? name;
  if (last === 'bias' || last === 'beta') return 'zeros';
  if (last === 'gamma') return 'ones';
  if (last === 'weight' && /(layer_?norm|layernorm|_norm|norm\d*|ln_\w+|ln\d*)\.weight$/i.test(name))
    return 'ones';
  return 'normal';
}

abstract class BaseSource implements WeightSource {
  abstract readonly kind: 'random' | 'safetensors';
  abstract has(name: string): boolean;
  abstract get(name: string, shape: number[], options?: GetOptions): Float32Array;

  linear(name: string, inFeatures: number, outFeatures: number): Float32Array {
    return transpose2d(this.get(name, [outFeatures, inFeatures]), outFeatures, inFeatures);
  }

  close(): void {}
}

/** Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

let quantileTable: Float32Array | undefined;
/** 65536 equiprobable normal quantiles: a 16-bit random index picks one (|x| <= 4.2). */
function normalTable(): Float32Array {
  if (!quantileTable) {
    const n = 65536;
    quantileTable = new Float32Array(n);
    for (let i = 0; i < n; i++) quantileTable[i] = normalQuantile((i + 0.5) / n);
  }
  return quantileTable;
}

/**
 * Seeded random weights. Normal values come from a 65536-level inverse-CDF table driven by
 * mulberry32 (two samples per 32-bit draw): symmetric, std within 1e-4 of the target, and about
 * 20x faster than Box-Muller, so bert-base fills in well under a second.
 */
export class RandomWeights extends BaseSource {
  readonly kind = 'random' as const;
  private state: number;

  constructor(
    seed = 0,
    private readonly std = 0.02,
  ) {
    super();
    this.state = Math.floor(new SeededRandom(seed).next() * 4294967296) >>> 0;
  }

  has(_name: string): boolean {
    return true;
  }

  get(name: string, shape: number[], options: GetOptions = {}): Float32Array {
    const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const init = options.init ?? defaultInit(name);
    if (init === 'ones') out.fill(1);
    else if (init === 'zeros') return out;
    else if (typeof init === 'object' && 'constant' in init) out.fill(init.constant);
    else this.fillNormal(out, typeof init === 'object' ? init.normal : this.std);
    return out;
  }

  /** Random values have no layout: generate [in, out] directly instead of transposing. */
  override linear(name: string, inFeatures: number, outFeatures: number): Float32Array {
    return this.get(name, [inFeatures, outFeatures]);
  }

  private fillNormal(out: Float32Array, std: number): void {
    const table = normalTable();
    let s = this.state;
    for (let i = 0; i < out.length; i += 2) {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = Math.imul(s ^ (s >>> 15), s | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      t = (t ^ (t >>> 14)) >>> 0;
      out[i] = table[t & 0xffff]! * std;
      if (i + 1 < out.length) out[i + 1] = table[t >>> 16]! * std;
    }
    this.state = s;
  }
}

const NO_DATA = new Float32Array(0);

/**
 * Shapes only: every tensor is present and no values are made (for a dry-run GraphBuilder, which
 * counts weights from their dims). Builds the architecture a random source would.
 */
export class ShapeOnlyWeights extends BaseSource {
  readonly kind = 'random' as const;
  has(_name: string): boolean {
    return true;
  }
  get(_name: string, _shape: number[]): Float32Array {
    return NO_DATA;
  }
  override linear(_name: string, _inFeatures: number, _outFeatures: number): Float32Array {
    return NO_DATA;
  }
}

/** Name prefixes a checkpoint may put before the base model's tensor names. */
export const COMMON_PREFIXES = ['', 'model.', 'transformer.', 'bert.', 'roberta.', 'encoder.'];

export class SafetensorsWeights extends BaseSource {
  readonly kind = 'safetensors' as const;
  private readonly files: SafetensorsFile[] = [];
  private readonly owner = new Map<string, SafetensorsFile>();
  private readonly resolved = new Map<string, string | null>();

  /**
   * @param paths one .safetensors file, every shard, or a model.safetensors.index.json
   * @param prefixes prefixes tried in order before each requested name (`''` means the name as is)
   */
  constructor(
    paths: string[],
    private readonly prefixes: string[] = COMMON_PREFIXES,
  ) {
    super();
    if (paths.length === 0)
      throw new CoreError(ErrorCode.VALIDATION, 'safetensors weights need at least one path');
    try {
      for (const file of expandShards(paths)) {
        const st = SafetensorsFile.open(file);
        this.files.push(st);
        for (const n of st.names()) if (!this.owner.has(n)) this.owner.set(n, st);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Every tensor name in the checkpoint. */
  names(): string[] {
    return [...this.owner.keys()];
  }

  /** The checkpoint name a requested name resolves to, or undefined. */
  resolve(name: string): string | undefined {
    const cached = this.resolved.get(name);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.lookup(name);
    this.resolved.set(name, found ?? null);
    return found;
  }

  private lookup(name: string): string | undefined {
    const variants = [name, ...legacyNames(name)];
    for (const prefix of this.prefixes) {
      for (const v of variants) if (this.owner.has(prefix + v)) return prefix + v;
    }
    // A requested name that already carries a prefix the checkpoint lacks.
    for (const prefix of this.prefixes) {
      if (prefix && name.startsWith(prefix) && this.owner.has(name.slice(prefix.length))) {
        return name.slice(prefix.length);
      }
    }
    for (const v of variants) {
      const matches = this.names().filter((n) => n.endsWith(`.${v}`));
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  get(name: string, shape: number[]): Float32Array {
    const real = this.resolve(name);
    if (!real) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `checkpoint is missing tensor "${name}" (tried prefixes ${this.prefixes.map((p) => `"${p}"`).join(', ')}) ` +
          `in ${this.files.map((f) => f.path).join(', ')}`,
      );
    }
    const file = this.owner.get(real)!;
    const entry = file.get(real);
    const expected = shape.reduce((a, b) => a * b, 1);
    const actual = entry.shape.reduce((a, b) => a * b, 1);
    // Tolerate leading 1-dims (e.g. [1, 1, H] stored for a [H] request) but nothing else.
    const squeeze = (s: number[]) => s.filter((d, i) => !(d === 1 && i < s.length - 1));
    if (expected !== actual || squeeze(entry.shape).join(',') !== squeeze(shape).join(',')) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `tensor "${real}" has shape [${entry.shape}] in the checkpoint but the config implies [${shape}]`,
      );
    }
    return file.float32(real);
  }

  override close(): void {
    for (const f of this.files.splice(0)) f.close();
  }
}

/** gamma/beta ↔ weight/bias aliases of old LayerNorm checkpoints. */
function legacyNames(name: string): string[] {
  if (name.endsWith('.weight')) return [`${name.slice(0, -'.weight'.length)}.gamma`];
  if (name.endsWith('.bias')) return [`${name.slice(0, -'.bias'.length)}.beta`];
  return [];
}

/** Expands index.json files into their shard paths; keeps plain files; de-duplicates. */
export function expandShards(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (p.endsWith('.json')) {
      let index: { weight_map?: Record<string, string> };
      try {
        index = JSON.parse(readFileSync(p, 'utf8')) as typeof index;
      } catch (err) {
        throw new CoreError(ErrorCode.INVALID_MODEL, `cannot read ${p}: ${(err as Error).message}`);
      }
      if (!index.weight_map) throw new CoreError(ErrorCode.INVALID_MODEL, `${p} has no weight_map`);
      for (const shard of new Set(Object.values(index.weight_map))) out.push(join(dirname(p), shard));
    } else if (existsSync(p) && statSync(p).isDirectory()) {
      throw new CoreError(ErrorCode.VALIDATION, `${p} is a directory; pass the .safetensors files`);
    } else {
      out.push(p);
    }
  }
  return [...new Set(out)];
}

export interface WeightSourceOptions {
  weights: 'random' | 'safetensors';
  safetensorsPaths?: string[];
  seed?: number;
  /** Std of random normal weights (config.initializer_range or 0.02). */
  std?: number;
  prefixes?: string[];
}

export function createWeightSource(options: WeightSourceOptions): WeightSource {
  if (options.weights === 'random') return new RandomWeights(options.seed ?? 0, options.std ?? 0.02);
  if (options.weights === 'safetensors') {
    if (!options.safetensorsPaths?.length) {
      throw new CoreError(ErrorCode.VALIDATION, 'weights "safetensors" needs safetensorsPaths');
    }
    return new SafetensorsWeights(options.safetensorsPaths, options.prefixes);
  }
  throw new CoreError(
    ErrorCode.VALIDATION,
    `weights must be random or safetensors, got ${String(options.weights)}`,
  );
}
