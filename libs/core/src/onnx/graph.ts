/**
 * GraphBuilder: a small typed builder for ONNX graphs (opset 17, default domain, IR version 8)
 * over the protobufjs classes that `onnx-proto` bundles. No framework, no Python.
 *
 * USAGE
 * ```ts
 * const g = new GraphBuilder('bert', { outDir, precision: 'fp32' }); // weights stream to outDir/model.onnx.data
 * const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
 * const emb = g.weight('embeddings.word_embeddings.weight', table, [vocab, hidden]); // stored in compute dtype
 * let x = g.op('Gather', [emb, ids], { axis: 0 });
 * x = g.layerNorm(x, g.weight('ln.weight', ones, [hidden]), g.weight('ln.bias', zeros, [hidden]), 1e-12);
 * x = g.linear(x, wName, bName);                // MatMul (+ Add); w is [in, out]
 * x = g.gelu(x);                                // x * 0.5 * (1 + Erf(x / sqrt 2)), fused by onnxruntime
 * g.output('last_hidden_state', 'float32', ['batch_size', 'sequence_length', hidden], x);
 * const saved = await g.save();                 // writes outDir/model.onnx, closes the data file
 * ```
 *
 * NODES
 * - `g.op(opType, inputs, attrs?)` adds one node and returns its (auto-named, unique) output.
 * - `g.node(opType, inputs, outputs?, attrs?)`: `outputs` is a name, an array of names or a count;
 *   returns the output name (string) or names (string[]). Use `''` for an omitted optional input.
 * - Attributes: integers become INT, other numbers FLOAT, except names listed in FLOAT_ATTRIBUTES
 *   (epsilon, alpha, beta, ...) which are always FLOAT; `floatAttr(1)` forces FLOAT; arrays of numbers
 *   become INTS (or FLOATS when any is fractional or wrapped by `floatsAttr`); strings become STRING.
 *
 * TENSORS
 * - `g.weight(name, Float32Array, dims)`: a model parameter, stored in the compute dtype (fp32, or fp16
 *   when `precision: 'fp16'`), written at once to the external data file (64-byte aligned offsets), so
 *   the model never sits in memory and models over 2 GiB work. Counted in `g.parameters`.
 * - `g.initializer(name, data, dims)`: any tensor (Float32Array stays fp32, Uint16Array is fp16 bits,
 *   BigInt64Array int64, Int32Array int32), also external. Not counted as a parameter.
 * - `g.constInt64([..], dims?)`, `g.constFloat(v | [..], dims?)` (compute dtype), `g.constFloat32(...)`:
 *   small constants stored inline in the model file, deduplicated.
 *
 * PROJECTIONS AND QUANTIZATION
 * `g.projectionWeight(name, { data, layout }, in, out)` stores a model's linear layer and
 * `g.applyProjection(x, weight, bias?)` applies it: a weight and MatMul in fp32/fp16,
 * DynamicQuantizeMatMul over int8 per-channel weights in `int8`, MatMulNBits over 4-bit blocks in
 * `int4` (see quantize.ts). Embeddings, norms and biases stay `g.weight`s.
 *
 * PRECISION (fp16)
 * With `precision: 'fp16'`, `g.computeDtype` is 'float16': weights are fp16 and the whole graph computes
 * in fp16. Graph inputs and outputs stay float32: cast at the edges with `g.toCompute(x)` after a float
 * input and pass `float32` to `g.output(...)`, which inserts the Cast back when needed. Helpers that
 * build constants (`constFloat`, `gelu`, `layerNorm`, ...) follow the compute dtype; `g.minValue` is the
 * most negative finite value of the compute dtype (for additive attention masks).
 *
 * SAVING
 * `await g.save()` writes `model.onnx` (graph only) beside `model.onnx.data` (every weight, with
 * TensorProto.data_location = EXTERNAL and external_data location/offset/length). Without `outDir` in
 * the constructor the data streams to a temporary file and `save(outDir)` moves it. Call `g.abort()` on
 * failure to close and remove the partial data file.
 */
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { onnx } from 'onnx-proto';
import { CoreError, ErrorCode } from '../errors';
import { floatToHalf } from '../util/safetensors';
import { INT4_BLOCK_SIZES, int8ToNBits, quantizeInt4Blockwise, quantizeInt8PerColumn } from './quantize';
import { transpose2d } from './weights';
import type { Dim, TensorSpec } from '../types';

export const OPSET_VERSION = 17;
export const IR_VERSION = 8;
export const MODEL_FILE = 'model.onnx';
/** onnxruntime's contrib operator domain. */
export const MS_DOMAIN = 'com.microsoft';
export const DATA_FILE = 'model.onnx.data';
/**
 * The graph a backend loads when model.onnx uses an op its execution provider lacks and the build made
 * it one without (`int8Fallback`): model.cuda.onnx, model.webgpu.onnx. It reads model.onnx.data too.
 */
export function backendGraphFile(backend: string): string {
  return `model.${backend}.onnx`;
}
const ALIGN = 64;

/**
 * fp32; fp16 (weights and compute); int8 (MatMul weights int8 per output channel, dynamic quantization
 * of the activations: DynamicQuantizeMatMul); int4 (MatMul weights 4-bit blockwise, weight-only:
 * MatMulNBits). int8 and int4 keep embeddings, norms and biases in fp32 and compute in fp32.
 */
export type Precision = 'fp32' | 'fp16' | 'int8' | 'int4';
export const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'int8', 'int4'];
/** The int8 fallback graph's MatMulNBits block size (every block of a column shares its scale). */
export const INT8_FALLBACK_BLOCK_SIZE = 32;
/** MatMulNBits block size when the build does not name one. */
export const DEFAULT_INT4_BLOCK_SIZE = 32;
/**
 * MatMulNBits accuracy_level: 4 lets the CPU provider quantize the activations to int8 per block and
 * use its integer kernels (onnxruntime-genai's CPU default); the GPU providers ignore it.
 */
export const INT4_ACCURACY_LEVEL = 4;
export type GraphDtype = 'float32' | 'float16' | 'int64' | 'int32' | 'bool' | 'uint8' | 'int8' | 'float64';
export type ComputeDtype = 'float32' | 'float16';

export const ELEM_TYPE: Record<GraphDtype, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
  float64: onnx.TensorProto.DataType.DOUBLE,
};

/** Attribute names whose numbers are always FLOAT. */
export const FLOAT_ATTRIBUTES = new Set([
  'epsilon',
  'alpha',
  'beta',
  'gamma',
  'lambd',
  'bias',
  'value_float',
]);

export interface FloatAttr {
  float: number;
}
export interface FloatsAttr {
  floats: number[];
}
export type AttrValue = number | string | number[] | string[] | FloatAttr | FloatsAttr;
export type Attrs = Record<string, AttrValue>;

export const floatAttr = (value: number): FloatAttr => ({ float: value });
export const floatsAttr = (values: number[]): FloatsAttr => ({ floats: values });

export type InitializerData =
  Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

export interface GraphBuilderOptions {
  /**
   * fp32 (default), fp16 (weights and compute in fp16, inputs and outputs float32), int8 or int4
   * (quantized `projection` weights, everything else fp32).
   */
  precision?: Precision;
  /** int4: values per quantization block along K (a power of two, 16 to 256; default 32). */
  blockSize?: number;
  /**
   * int8: also build the fallback graph for the execution providers without DynamicQuantizeMatMul
   * (cuda, webgpu): every projection there is MatMulNBits with bits 8 over the same int8 weights
   * (`int8ToNBits`), weight-only. `save(dir, { fallbackFiles })` writes it beside model.onnx; both
   * graphs read the one model.onnx.data.
   */
  int8Fallback?: boolean;
  /** Where model.onnx and model.onnx.data go; the data file is opened at once and streamed to. */
  outDir?: string;
  /** Written into ModelProto.producer_name. */
  producer?: string;
  /** Free-form metadata_props. */
  metadata?: Record<string, string>;
  /**
   * Build the graph without any tensor data: weights are counted from their dims and nothing is
   * written (no data file is opened; `save` refuses). Used to count a model's parameters.
   */
  dryRun?: boolean;
}

export interface SavedGraph {
  onnxPath: string;
  dataPath: string;
  /** The contrib ops model.onnx uses. */
  contribOps: string[];
  /** With `int8Fallback`: the fallback graph's files (as `fallbackFiles` named them) and contrib ops. */
  fallback?: { paths: string[]; contribOps: string[] };
  /** Bytes in model.onnx.data plus model.onnx. */
  bytesWritten: number;
  /** Elements in every `weight(...)` tensor. */
  parameters: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

function elemCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function toHalfBits(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = floatToHalf(data[i]!);
  return out;
}

function dtypeOfData(data: InitializerData): GraphDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Uint16Array) return 'float16';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

function valueInfo(name: string, dtype: GraphDtype, dims: readonly Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM_TYPE[dtype],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function isFloatAttr(v: unknown): v is FloatAttr {
  return typeof v === 'object' && v !== null && 'float' in v;
}
function isFloatsAttr(v: unknown): v is FloatsAttr {
  return typeof v === 'object' && v !== null && 'floats' in v;
}

function attribute(name: string, value: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (isFloatAttr(value)) return { name, type: T.FLOAT, f: value.float };
  if (isFloatsAttr(value)) return { name, type: T.FLOATS, floats: value.floats };
  if (typeof value === 'string') return { name, type: T.STRING, s: Buffer.from(value, 'utf8') };
  if (typeof value === 'number') {
    if (FLOAT_ATTRIBUTES.has(name) || !Number.isInteger(value)) return { name, type: T.FLOAT, f: value };
    return { name, type: T.INT, i: value };
  }
  if (value.length > 0 && typeof value[0] === 'string') {
    return { name, type: T.STRINGS, strings: (value as string[]).map((s) => Buffer.from(s, 'utf8')) };
  }
  const nums = value as number[];
  if (nums.some((n) => !Number.isInteger(n))) return { name, type: T.FLOATS, floats: nums };
  return { name, type: T.INTS, ints: nums };
}

/** A projection's float32 weight and its layout. */
export interface ProjectionData {
  data: Float32Array;
  /** `in-out`: [inFeatures, outFeatures] (MatMul's B); `out-in`: [outFeatures, inFeatures] (nn.Linear). */
  layout: 'in-out' | 'out-in';
}

/** A stored projection weight (GraphBuilder.projectionWeight). */
export type ProjectionWeight =
  | { kind: 'float'; K: number; N: number; w: string }
  | {
      kind: 'int8';
      K: number;
      N: number;
      q: string;
      scale: string;
      /** The fallback graph's MatMulNBits (bits 8) form of the same weight (`int8Fallback`). */
      nbits?: { packed: string; scales: string; blockSize: number };
    }
  | { kind: 'int4'; K: number; N: number; packed: string; scales: string; zeroPoints: string };

export class GraphBuilder {
  readonly precision: Precision;
  readonly computeDtype: ComputeDtype;
  /** int4 block size. */
  readonly blockSize: number;
  /** Most negative finite value of the compute dtype (for additive masks). */
  readonly minValue: number;
  /** Elements in every `weight(...)`. */
  parameters = 0;

  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly inputSpecs: TensorSpec[] = [];
  private readonly outputSpecs: TensorSpec[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  private readonly tempDir: string | undefined;
  private readonly dataPath: string;
  private readonly dryRun: boolean;
  private fd: number | undefined;
  private usesMsDomain = false;
  private readonly msOps = new Set<string>();
  /** Nodes and initializers that belong to one graph only (`int8Fallback`); the rest are in both. */
  private readonly onlyIn = new Map<object, 'primary' | 'fallback'>();
  private dataOffset = 0;

  constructor(
    readonly name: string,
    private readonly options: GraphBuilderOptions = {},
  ) {
    this.precision = options.precision ?? 'fp32';
    if (!PRECISIONS.includes(this.precision)) {
      throw new CoreError(
        ErrorCode.VALIDATION,
        `precision must be one of ${PRECISIONS.join(', ')}, got ${String(this.precision)}`,
      );
    }
    this.blockSize = options.blockSize ?? DEFAULT_INT4_BLOCK_SIZE;
    if (!(INT4_BLOCK_SIZES as readonly number[]).includes(this.blockSize)) {
      throw new CoreError(
        ErrorCode.VALIDATION,
        `block_size must be one of ${INT4_BLOCK_SIZES.join(', ')}, got ${String(options.blockSize)}`,
      );
    }
    this.computeDtype = this.precision === 'fp16' ? 'float16' : 'float32';
    this.minValue = this.precision === 'fp16' ? -65504 : -3.4028234663852886e38;
    this.dryRun = options.dryRun === true;
    if (this.dryRun) {
      this.dataPath = '';
      return;
    }
    if (options.outDir) {
      mkdirSync(options.outDir, { recursive: true });
      this.dataPath = join(options.outDir, DATA_FILE);
    } else {
      this.tempDir = mkdtempSync(join(tmpdir(), 'onnx-build-'));
      this.dataPath = join(this.tempDir, DATA_FILE);
    }
    this.fd = openSync(this.dataPath, 'w');
  }

  /**
   * One node of an onnxruntime contrib op registered in the default domain (SimplifiedLayerNormalization);
   * recorded with the com.microsoft ones in `contribOps`.
   */
  contribOp(opType: string, inputs: string[], attrs?: Attrs): string {
    this.msOps.add(opType);
    return this.op(opType, inputs, attrs);
  }

  /** The onnxruntime contrib op types (com.microsoft, and SimplifiedLayerNormalization) the graph uses so far, sorted. */
  get contribOps(): string[] {
    return this.contribOpsOf('primary');
  }

  /** The contrib ops of the fallback graph (`int8Fallback`), or undefined when it has none. */
  get fallbackContribOps(): string[] | undefined {
    return this.hasFallback ? this.contribOpsOf('fallback') : undefined;
  }

  private get hasFallback(): boolean {
    return [...this.onlyIn.values()].includes('fallback');
  }

  private contribOpsOf(graph: 'primary' | 'fallback'): string[] {
    const ops = new Set<string>();
    for (const n of this.nodesOf(graph)) if (this.msOps.has(n.opType!)) ops.add(n.opType!);
    return [...ops].sort();
  }

  private nodesOf(graph: 'primary' | 'fallback'): onnx.INodeProto[] {
    return this.nodes.filter((n) => (this.onlyIn.get(n) ?? graph) === graph);
  }

  /** Bytes written to the external data file so far. */
  get dataBytes(): number {
    return this.dataOffset;
  }

  /**
   * A fresh unique value name built from `hint`: `hint:N`. Explicit names (inputs, weights, outputs)
   * never contain ':' in practice, so generated names cannot take a name a caller claims later.
   */
  uniqueName(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./-]/g, '_') || 't';
    let n = this.counters.get(base) ?? 0;
    let candidate: string;
    do {
      candidate = `${base}:${n}`;
      n += 1;
    } while (this.names.has(candidate));
    this.counters.set(base, n);
    this.names.add(candidate);
    return candidate;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new CoreError(ErrorCode.INTERNAL, `graph value ${name} defined twice`);
    this.names.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  input(name: string, dtype: GraphDtype, dims: Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, dtype, dims));
    this.inputSpecs.push({ name, dtype, shape: [...dims] });
    return name;
  }

  /**
   * Declares a graph output. With `from`, the output is produced from that value (Cast when `dtype`
   * differs from the compute dtype of a float value, Identity otherwise).
   */
  output(name: string, dtype: GraphDtype, dims: Dim[], from?: string): string {
    if (from !== undefined && from !== name) {
      const isFloat = dtype === 'float32' || dtype === 'float16';
      if (isFloat && dtype !== this.computeDtype) this.node('Cast', [from], name, { to: ELEM_TYPE[dtype] });
      else this.node('Identity', [from], name);
    } else if (!this.names.has(name)) {
      throw new CoreError(ErrorCode.INTERNAL, `graph output ${name} is not produced by any node`);
    }
    this.outputs.push(valueInfo(name, dtype, dims));
    this.outputSpecs.push({ name, dtype, shape: [...dims] });
    return name;
  }

  /** A model parameter: float32 values stored in the compute dtype, external data. */
  weight(name: string, data: Float32Array, dims: number[]): string {
    if (this.dryRun) {
      this.parameters += elemCount(dims);
      return this.claim(name);
    }
    if (data.length !== elemCount(dims)) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `weight ${name}: ${data.length} values for dims [${dims}]`,
      );
    }
    this.parameters += data.length;
    return this.computeInitializer(name, data, dims);
  }

  /** A float32 table (not a model parameter) stored in the compute dtype, external data. */
  computeInitializer(name: string, data: Float32Array, dims: number[]): string {
    return this.initializer(name, this.computeDtype === 'float16' ? toHalfBits(data) : data, dims);
  }

  /** Any tensor as external data (Uint16Array = fp16 bits). Returns its name. */
  initializer(name: string, data: InitializerData, dims: number[]): string {
    if (this.dryRun) return this.claim(name);
    if (data.length !== elemCount(dims)) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `initializer ${name}: ${data.length} values for dims [${dims}]`,
      );
    }
    if (this.fd === undefined) throw new CoreError(ErrorCode.INTERNAL, 'graph already saved');
    this.claim(name);
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const offset = Math.ceil(this.dataOffset / ALIGN) * ALIGN;
    let written = 0;
    while (written < bytes.length) {
      written += writeSync(this.fd, bytes, written, bytes.length - written, offset + written);
    }
    this.dataOffset = offset + bytes.length;
    this.initializers.push({
      name,
      dims,
      dataType: ELEM_TYPE[dtypeOfData(data)],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: DATA_FILE },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.length) },
      ],
    });
    return name;
  }

  /** A small tensor stored inline in model.onnx (deduplicated by content). */
  private inlineConst(hint: string, dtype: GraphDtype, bytes: Buffer, dims: number[]): string {
    const key = `${dtype}|${dims.join(',')}|${bytes.toString('base64')}`;
    const cached = this.constCache.get(key);
    if (cached) return cached;
    const name = this.uniqueName(hint);
    this.initializers.push({ name, dims, dataType: ELEM_TYPE[dtype], rawData: bytes });
    this.constCache.set(key, name);
    return name;
  }

  /** int64 constant; `dims` defaults to [values.length] (pass [] for a scalar). */
  constInt64(values: readonly (number | bigint)[], dims: number[] = [values.length]): string {
    const arr = BigInt64Array.from(values.map((v) => BigInt(v)));
    return this.inlineConst('const_i64', 'int64', Buffer.from(arr.buffer), dims);
  }

  /** Float constant in the compute dtype; a number gives a scalar. */
  constFloat(value: number | readonly number[], dims?: number[]): string {
    const values = typeof value === 'number' ? [value] : [...value];
    const shape = dims ?? (typeof value === 'number' ? [] : [values.length]);
    if (this.computeDtype === 'float16') {
      const bits = Uint16Array.from(values.map((v) => floatToHalf(v)));
      return this.inlineConst('const_f16', 'float16', Buffer.from(bits.buffer), shape);
    }
    return this.constFloat32(values, shape);
  }

  /** float32 constant regardless of precision. */
  constFloat32(value: number | readonly number[], dims?: number[]): string {
    const values = typeof value === 'number' ? [value] : [...value];
    const shape = dims ?? (typeof value === 'number' ? [] : [values.length]);
    const arr = Float32Array.from(values);
    return this.inlineConst('const_f32', 'float32', Buffer.from(arr.buffer), shape);
  }

  /** Adds one node; returns its output name(s). `outputs`: a name, names, or a count (default 1). */
  node(opType: string, inputs: string[], outputs?: string, attrs?: Attrs): string;
  node(opType: string, inputs: string[], outputs: string[] | number, attrs?: Attrs): string[];
  node(
    opType: string,
    inputs: string[],
    outputs?: string | string[] | number,
    attrs?: Attrs,
  ): string | string[] {
    for (const i of inputs) {
      if (i !== '' && !this.names.has(i)) {
        throw new CoreError(ErrorCode.INTERNAL, `${opType}: input ${i} is not defined in graph ${this.name}`);
      }
    }
    const base = opType.toLowerCase();
    let outNames: string[];
    if (outputs === undefined) outNames = [this.uniqueName(base)];
    else if (typeof outputs === 'number')
      outNames = Array.from({ length: outputs }, (_, k) => this.uniqueName(`${base}_o${k}`));
    else if (typeof outputs === 'string') outNames = [this.claim(outputs)];
    else outNames = outputs.map((o) => this.claim(o));
    this.nodes.push({
      opType,
      name: this.uniqueName(`n_${base}`),
      input: inputs,
      output: outNames,
      attribute: Object.entries(attrs ?? {}).map(([k, v]) => attribute(k, v)),
    });
    return typeof outputs === 'number' || Array.isArray(outputs) ? outNames : outNames[0]!;
  }

  /** A node of one graph only (`int8Fallback`), its output named by the caller (already claimed). */
  private pushNode(
    graph: 'primary' | 'fallback',
    opType: string,
    inputs: string[],
    output: string,
    attrs?: Attrs,
    domain?: string,
  ): void {
    const node: onnx.INodeProto = {
      opType,
      name: this.uniqueName(`n_${opType.toLowerCase()}`),
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs ?? {}).map(([k, v]) => attribute(k, v)),
      ...(domain ? { domain } : {}),
    };
    this.nodes.push(node);
    this.onlyIn.set(node, graph);
  }

  /** An initializer only one graph reads (the other graph leaves it out). */
  private initializerIn(
    graph: 'primary' | 'fallback',
    name: string,
    data: InitializerData,
    dims: number[],
  ): string {
    const before = this.initializers.length;
    this.initializer(name, data, dims);
    if (this.initializers.length > before) this.onlyIn.set(this.initializers[before]!, graph);
    return name;
  }

  /** One node with one auto-named output. */
  op(opType: string, inputs: string[], attrs?: Attrs): string {
    return this.node(opType, inputs, undefined, attrs);
  }

  /**
   * One node of onnxruntime's contrib domain (com.microsoft: Attention, SkipLayerNormalization, ...);
   * the model then imports that domain. `inputs` may hold '' for an optional input left out.
   */
  msOp(opType: string, inputs: string[], attrs?: Attrs, outputs = 1): string[] {
    const out = this.node(opType, inputs, outputs, attrs);
    this.nodes[this.nodes.length - 1]!.domain = MS_DOMAIN;
    this.usesMsDomain = true;
    this.msOps.add(opType);
    return out;
  }

  // ---- numeric helpers (all follow the compute dtype) ----

  /** Casts a float32 graph input to the compute dtype (no-op in fp32). */
  toCompute(x: string): string {
    return this.computeDtype === 'float32' ? x : this.op('Cast', [x], { to: ELEM_TYPE.float16 });
  }

  /** Casts a compute-dtype value to float32 (no-op in fp32). */
  toFloat32(x: string): string {
    return this.computeDtype === 'float32' ? x : this.op('Cast', [x], { to: ELEM_TYPE.float32 });
  }

  /** Casts any value to the compute dtype (e.g. an int64 mask). */
  castCompute(x: string): string {
    return this.op('Cast', [x], { to: ELEM_TYPE[this.computeDtype] });
  }

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  matmul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }

  /** Whether projections are stored quantized (int8, int4). */
  get quantized(): boolean {
    return this.precision === 'int8' || this.precision === 'int4';
  }

  /**
   * Stores a model projection's weight (nn.Linear, Conv1D, fused QKV, an LM head), given as float32 in
   * either layout (`in-out`: [inFeatures, outFeatures]; `out-in`: nn.Linear's [out, in]), as the
   * precision says: a float weight (fp32, fp16); int8 per-column weights and a scale (int8); 4-bit
   * blocks, scales and zero points (int4). Counted as inFeatures × outFeatures parameters whatever the
   * storage. `applyProjection` computes x @ W (+ b) with it.
   */
  projectionWeight(
    name: string,
    weight: ProjectionData,
    inFeatures: number,
    outFeatures: number,
  ): ProjectionWeight {
    const K = inFeatures;
    const N = outFeatures;
    const { data, layout } = weight;
    if (!this.dryRun && data.length !== K * N) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `weight ${name}: ${data.length} values for dims [${K}, ${N}]`,
      );
    }
    const inOut = () => (layout === 'in-out' ? data : transpose2d(data, N, K));
    if (this.precision === 'int8') {
      this.parameters += K * N;
      const qw = this.dryRun ? undefined : quantizeInt8PerColumn(inOut(), K, N);
      const q = this.initializerIn('primary', `${name}.int8`, qw?.q ?? new Int8Array(0), [K, N]);
      const scale = this.initializerIn('primary', `${name}.scale`, qw?.scale ?? new Float32Array(0), [N]);
      if (!this.options.int8Fallback) return { kind: 'int8', K, N, q, scale };
      const blockSize = INT8_FALLBACK_BLOCK_SIZE;
      const nb = qw ? int8ToNBits(qw, K, N, blockSize) : undefined;
      const blocks = Math.ceil(K / blockSize);
      return {
        kind: 'int8',
        K,
        N,
        q,
        scale,
        nbits: {
          packed: this.initializerIn('fallback', `${name}.int8_nbits`, nb?.packed ?? new Uint8Array(0), [
            N,
            blocks,
            blockSize,
          ]),
          scales: this.initializerIn(
            'fallback',
            `${name}.int8_nbits.scales`,
            nb?.scales ?? new Float32Array(0),
            [N * blocks],
          ),
          blockSize,
        },
      };
    }
    if (this.precision === 'int4') {
      this.parameters += K * N;
      const blocks = Math.ceil(K / this.blockSize);
      const outIn = () => (layout === 'out-in' ? data : transpose2d(data, K, N));
      const qw = this.dryRun ? undefined : quantizeInt4Blockwise(outIn(), K, N, this.blockSize);
      return {
        kind: 'int4',
        K,
        N,
        packed: this.initializer(`${name}.int4`, qw?.packed ?? new Uint8Array(0), [
          N,
          blocks,
          this.blockSize / 2,
        ]),
        scales: this.initializer(`${name}.scales`, qw?.scales ?? new Float32Array(0), [N * blocks]),
        zeroPoints: this.initializer(`${name}.zero_points`, qw?.zeroPoints ?? new Uint8Array(0), [
          N * Math.ceil(blocks / 2),
        ]),
      };
    }
    return { kind: 'float', K, N, w: this.weight(name, this.dryRun ? data : inOut(), [K, N]) };
  }

  /**
   * x @ W (+ b) for a weight stored by `projectionWeight`: MatMul (+ Add) for a float weight;
   * com.microsoft DynamicQuantizeMatMul, the bias folded in (int8); com.microsoft MatMulNBits (int4).
   */
  applyProjection(x: string, weight: ProjectionWeight, bias?: string): string {
    if (weight.kind === 'float') return this.linear(x, weight.w, bias);
    if (weight.kind === 'int8') {
      const y = this.msOp(
        'DynamicQuantizeMatMul',
        bias ? [x, weight.q, weight.scale, '', bias] : [x, weight.q, weight.scale],
      )[0]!;
      if (!weight.nbits) return y;
      // The fallback graph computes the same value with its own nodes, under the same name.
      const dqmm = this.nodes[this.nodes.length - 1]!;
      this.onlyIn.set(dqmm, 'primary');
      const attrs = { K: weight.K, N: weight.N, bits: 8, block_size: weight.nbits.blockSize };
      const product = bias ? this.uniqueName('matmulnbits') : y;
      this.pushNode(
        'fallback',
        'MatMulNBits',
        [x, weight.nbits.packed, weight.nbits.scales],
        product,
        attrs,
        MS_DOMAIN,
      );
      this.msOps.add('MatMulNBits');
      if (bias) this.pushNode('fallback', 'Add', [product, bias], y);
      return y;
    }
    const [y] = this.msOp('MatMulNBits', [x, weight.packed, weight.scales, weight.zeroPoints], {
      K: weight.K,
      N: weight.N,
      bits: 4,
      block_size: this.blockSize,
      accuracy_level: INT4_ACCURACY_LEVEL,
    });
    return bias ? this.add(y!, bias) : y!;
  }

  /** x @ w (+ b). `w` is [in, out]. */
  linear(x: string, w: string, b?: string): string {
    const y = this.matmul(x, w);
    return b ? this.add(y, b) : y;
  }

  /** LayerNormalization over the last axis. */
  layerNorm(x: string, scale: string, bias: string | undefined, epsilon: number, axis = -1): string {
    return this.op('LayerNormalization', bias ? [x, scale, bias] : [x, scale], { axis, epsilon });
  }

  /** Exact GELU: x * 0.5 * (1 + erf(x / sqrt(2))), the pattern onnxruntime fuses. */
  gelu(x: string): string {
    const e = this.op('Erf', [this.div(x, this.constFloat(Math.SQRT2))]);
    return this.mul(this.mul(x, this.add(e, this.constFloat(1))), this.constFloat(0.5));
  }

  /** Tanh GELU (gelu_new, gelu_pytorch_tanh): 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))). */
  geluTanh(x: string): string {
    const x3 = this.op('Pow', [x, this.constFloat(3)]);
    const inner = this.add(x, this.mul(x3, this.constFloat(0.044715)));
    const t = this.op('Tanh', [this.mul(inner, this.constFloat(Math.sqrt(2 / Math.PI)))]);
    return this.mul(this.mul(x, this.constFloat(0.5)), this.add(t, this.constFloat(1)));
  }

  /** Sigmoid-based fast GELU (quick_gelu): x * sigmoid(1.702x). */
  quickGelu(x: string): string {
    return this.mul(x, this.op('Sigmoid', [this.mul(x, this.constFloat(1.702))]));
  }

  silu(x: string): string {
    return this.mul(x, this.op('Sigmoid', [x]));
  }

  /** The activation a Hugging Face config names (hidden_act / activation / dense_act_fn). */
  activation(x: string, name: string): string {
    switch (name) {
      case 'gelu':
        return this.gelu(x);
      case 'gelu_new':
      case 'gelu_pytorch_tanh':
      case 'gelu_fast':
        return this.geluTanh(x);
      case 'quick_gelu':
        return this.quickGelu(x);
      case 'relu':
        return this.op('Relu', [x]);
      case 'silu':
      case 'swish':
        return this.silu(x);
      case 'tanh':
        return this.op('Tanh', [x]);
      case 'sigmoid':
        return this.op('Sigmoid', [x]);
      default:
        throw new CoreError(ErrorCode.INVALID_MODEL, `unsupported activation "${name}"`);
    }
  }

  softmax(x: string, axis = -1): string {
    return this.op('Softmax', [x], { axis });
  }

  reshape(x: string, shape: readonly number[] | string): string {
    return this.op('Reshape', [x, typeof shape === 'string' ? shape : this.constInt64(shape)]);
  }

  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm });
  }

  /** Shape(x)[axis] as a 1-D int64 tensor of length 1. */
  dim(x: string, axis: number): string {
    return this.op('Gather', [this.op('Shape', [x]), this.constInt64([axis])], { axis: 0 });
  }

  concat(inputs: string[], axis: number): string {
    return this.op('Concat', inputs, { axis });
  }

  unsqueeze(x: string, axes: number[]): string {
    return this.op('Unsqueeze', [x, this.constInt64(axes)]);
  }

  squeeze(x: string, axes: number[]): string {
    return this.op('Squeeze', [x, this.constInt64(axes)]);
  }

  /** x[..., start:end] along `axis` (Slice). */
  slice(x: string, axis: number, start: number, end: number): string {
    return this.op('Slice', [x, this.constInt64([start]), this.constInt64([end]), this.constInt64([axis])]);
  }

  /**
   * Writes model.onnx (and moves the data file when built in a temp dir); with `int8Fallback`, the
   * fallback graph to each of `fallbackFiles` (names in the same folder).
   */
  async save(outDir?: string, options: { fallbackFiles?: string[] } = {}): Promise<SavedGraph> {
    if (this.dryRun) throw new CoreError(ErrorCode.INTERNAL, 'a dry-run graph cannot be saved');
    const dir = outDir ?? this.options.outDir;
    if (!dir) throw new CoreError(ErrorCode.INTERNAL, 'GraphBuilder.save needs an outDir');
    if (this.fd === undefined) throw new CoreError(ErrorCode.INTERNAL, 'graph already saved');
    closeSync(this.fd);
    this.fd = undefined;
    mkdirSync(dir, { recursive: true });
    const dataPath = join(dir, DATA_FILE);
    if (dataPath !== this.dataPath) moveFile(this.dataPath, dataPath);
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    const modelOf = (graph: 'primary' | 'fallback'): onnx.IModelProto => ({
      irVersion: IR_VERSION,
      producerName: this.options.producer ?? 'ipfs-accelerate',
      producerVersion: '1',
      opsetImport: [
        { domain: '', version: OPSET_VERSION },
        ...(this.usesMsDomain ? [{ domain: MS_DOMAIN, version: 1 }] : []),
      ],
      metadataProps: Object.entries(this.options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodesOf(graph),
        initializer: this.initializers.filter((t) => (this.onlyIn.get(t) ?? graph) === graph),
        input: this.inputs,
        output: this.outputs,
      },
    });
    const bytes = onnx.ModelProto.encode(modelOf('primary')).finish();
    const onnxPath = join(dir, MODEL_FILE);
    await writeFile(onnxPath, bytes);
    let bytesWritten = this.dataOffset + bytes.length;
    let fallback: SavedGraph['fallback'];
    if (this.hasFallback && options.fallbackFiles?.length) {
      const fallbackBytes = onnx.ModelProto.encode(modelOf('fallback')).finish();
      const paths = options.fallbackFiles.map((f) => join(dir, f));
      for (const path of paths) {
        await writeFile(path, fallbackBytes);
        bytesWritten += fallbackBytes.length;
      }
      fallback = { paths, contribOps: this.contribOpsOf('fallback') };
    }
    return {
      onnxPath,
      dataPath,
      contribOps: this.contribOps,
      ...(fallback ? { fallback } : {}),
      bytesWritten,
      parameters: this.parameters,
      inputs: this.inputSpecs.map((s) => ({ ...s, shape: [...s.shape] })),
      outputs: this.outputSpecs.map((s) => ({ ...s, shape: [...s.shape] })),
    };
  }

  /** Closes and removes the partial data file (call when a build fails). */
  abort(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    if (!this.dryRun) rmSync(this.tempDir ?? this.dataPath, { recursive: true, force: true });
  }
}

function moveFile(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  try {
    renameSync(from, to);
  } catch {
    copyFileSync(from, to);
    rmSync(from, { force: true });
  }
}
