/**
 * What precision a model really has, so a Benchmark or Test request's `precision` selects a model
 * of that precision instead of labelling whatever runs:
 * - a generated implementation (or its model.onnx) → the precision in its manifest.json;
 * - a plain .onnx file → the element type holding most of its initializers' values (fp32, fp16,
 *   bf16, int8), read from the graph file (only files up to 64 MiB are read here; larger ones, whose
 *   weights are inside, are reported as unknown);
 * - a registry id → fp32, fp16, int8 and int4: the on-demand cache generates any of them.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { CoreError, ErrorCode } from '../errors';
import type { Precision } from '../onnx/graph';
import type { ResolvedModelPath } from './paths';

/** Precisions the generator builds (and so the on-demand cache can make for a registry id). */
export const GENERATED_PRECISIONS = ['fp32', 'fp16', 'int8', 'int4'] as const satisfies readonly Precision[];
export type GeneratedPrecision = (typeof GENERATED_PRECISIONS)[number];

const MAX_GRAPH_BYTES = 64 * 1024 * 1024;

const T = onnx.TensorProto.DataType;
const NAMES: Partial<Record<number, string>> = {
  [T.FLOAT]: 'fp32',
  [T.FLOAT16]: 'fp16',
  [T.BFLOAT16]: 'bf16',
  [T.INT8]: 'int8',
  [T.UINT8]: 'int8',
  [T.DOUBLE]: 'fp64',
};

/** The manifest.json in `dir` as an object, or undefined. */
function readManifest(dir: string): Record<string, unknown> | undefined {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) return undefined;
  try {
    const m: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return m && typeof m === 'object' ? (m as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The ModelProto of a graph file small enough to read here (weights outside it), or undefined. */
function readGraph(path: string): onnx.ModelProto | undefined {
  try {
    if (statSync(path).size > MAX_GRAPH_BYTES) return undefined;
    return onnx.ModelProto.decode(readFileSync(path));
  } catch {
    return undefined;
  }
}

/** The element type holding most initializer values of a graph, or undefined. */
function graphPrecision(model: onnx.ModelProto): string | undefined {
  try {
    // Weight-only graphs keep their weights as packed uint8 blocks: the op (and its bits) tells.
    const nodes = model.graph?.node ?? [];
    const nbits = nodes.find((n) => n.opType === 'MatMulNBits');
    if (nbits) {
      const bits = nbits.attribute?.find((a) => a.name === 'bits')?.i;
      return bits !== undefined && bits !== null && Number(bits) === 8 ? 'int8' : 'int4';
    }
    const ops = new Set(nodes.map((n) => n.opType));
    if (ops.has('DynamicQuantizeMatMul') || ops.has('MatMulInteger')) return 'int8';
    const totals = new Map<string, number>();
    for (const t of model.graph?.initializer ?? []) {
      const name = NAMES[t.dataType ?? 0];
      if (!name) continue;
      const n = (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
      totals.set(name, (totals.get(name) ?? 0) + n);
    }
    let best: string | undefined;
    for (const [name, n] of totals) if (best === undefined || n > totals.get(best)!) best = name;
    return best;
  } catch {
    return undefined;
  }
}

/** The element type holding most initializer values of an ONNX graph file, or undefined. */
export function onnxFilePrecision(path: string): string | undefined {
  const model = readGraph(path);
  return model ? graphPrecision(model) : undefined;
}

const stringOrUndefined = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : undefined;

/**
 * What a resolved model file or implementation is, read once (manifest.json, then the graph file only
 * for what the manifest does not say):
 * - precision: its manifest's, else the element type of most of its graph's initializers;
 * - graph: the flavour (portable, optimized), its manifest's, else the `graph` metadata the generator
 *   writes into model.onnx; undefined for a graph from elsewhere.
 */
export function modelFacts(resolved: ResolvedModelPath): { precision?: string; graph?: string } {
  const manifest = readManifest(resolved.dir);
  let precision = stringOrUndefined(manifest?.precision);
  let graph = stringOrUndefined(manifest?.graph);
  if (precision === undefined || graph === undefined) {
    const path = resolved.kind === 'onnx-file' ? resolved.path : join(resolved.dir, 'model.onnx');
    const model = existsSync(path) ? readGraph(path) : undefined;
    if (model) {
      precision ??= graphPrecision(model);
      graph ??= stringOrUndefined(model.metadataProps?.find((p) => p.key === 'graph')?.value);
    }
  }
  return { ...(precision ? { precision } : {}), ...(graph ? { graph } : {}) };
}

/** The precision of a resolved model file or implementation, or undefined when it cannot be told. */
export function modelPrecision(resolved: ResolvedModelPath): string | undefined {
  return modelFacts(resolved).precision;
}

/** The graph flavour of a resolved model file or implementation (modelFacts), or undefined. */
export function modelGraph(resolved: ResolvedModelPath): string | undefined {
  return modelFacts(resolved).graph;
}

/**
 * Refuses (422) a requested precision the model does not have, naming the ones it has. An unknown
 * precision (undefined available list) refuses nothing: what ran is reported as unknown.
 */
export function checkPrecision(
  name: string,
  requested: string | undefined,
  available: readonly string[] | undefined,
): void {
  if (requested === undefined || available === undefined || available.includes(requested)) return;
  throw new CoreError(
    ErrorCode.UNPROCESSABLE,
    `${name} has no ${requested} graph; it exists in ${available.join(', ')}` +
      (available.length === 1
        ? ` (generate a ${requested} implementation with the Generator, precision "${requested}")`
        : ''),
    { field: 'precision', precision: requested, available_precisions: [...available] },
  );
}
