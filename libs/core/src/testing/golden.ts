/**
 * Golden inputs/outputs (io.safetensors, the hf-tiny layout): `input.<name>` tensors feed the
 * model, `output.<name>` tensors are what the reference implementation computed.
 */
import type { Tensor } from 'onnxruntime-node';
import { CoreError, ErrorCode } from '../errors';
import { inputRole, makeTensor } from '../models/inputs';
import type { Feeds, TensorSpec } from '../types';
import { SafetensorsFile } from '../util/safetensors';

export interface GoldenIO {
  feeds: Feeds;
  /** Expected outputs by name (float32 values). */
  outputs: Record<string, { data: Float32Array; dims: number[] }>;
  /** The batch size of the golden inputs (first axis of the first input). */
  batchSize: number;
}

/**
 * What a model's forward computes for an input the reference did not pass: an empty KV cache
 * (`past_key_values.*`, past length 0) and position_ids 0..seq-1 (transformers' default without a
 * cache). Undefined for any other input.
 */
function defaultFeed(spec: TensorSpec, given: Feeds): Tensor | undefined {
  const ids = given.input_ids ?? Object.values(given)[0];
  if (ids === undefined) return undefined;
  const batch = Number(ids.dims[0] ?? 1);
  if (spec.name.startsWith('past_key_values.')) {
    const dims = spec.shape.map((d, i) => (i === 0 ? batch : typeof d === 'number' && d >= 0 ? d : 0));
    return makeTensor(spec.dtype, dims, () => 0);
  }
  if (inputRole(spec) === 'positions' && ids.dims.length === 2) {
    const seq = Number(ids.dims[1]);
    return makeTensor(spec.dtype, [batch, seq], (i) => i % seq);
  }
  return undefined;
}

/**
 * Reads the golden file; every declared model input must be in it, except a KV cache and
 * position_ids, which get what the reference's forward uses when they are not passed.
 */
export function readGolden(path: string, inputs: readonly TensorSpec[]): GoldenIO {
  const file = SafetensorsFile.open(path);
  try {
    const feeds: Feeds = {};
    const missing: string[] = [];
    for (const spec of inputs) {
      const key = `input.${spec.name}`;
      if (!file.has(key)) {
        missing.push(spec.name);
        continue;
      }
      const entry = file.get(key);
      const isInt = !['F32', 'F64', 'F16', 'BF16'].includes(entry.dtype);
      let tensor: Tensor;
      if (isInt) {
        const values = file.int64(key);
        tensor = makeTensor(spec.dtype, [...entry.shape], (i) => Number(values[i]!));
      } else {
        const values = file.float32(key);
        tensor = makeTensor(spec.dtype, [...entry.shape], (i) => values[i]!);
      }
      feeds[spec.name] = tensor;
    }
    for (const name of [...missing]) {
      const feed = defaultFeed(
        inputs.find((i) => i.name === name)!,
        feeds,
      );
      if (feed === undefined) continue;
      feeds[name] = feed;
      missing.splice(missing.indexOf(name), 1);
    }
    if (missing.length) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `${path} has no golden input for ${missing.map((m) => `input.${m}`).join(', ')}`,
      );
    }
    const outputs: GoldenIO['outputs'] = {};
    for (const name of file.names()) {
      if (!name.startsWith('output.')) continue;
      outputs[name.slice('output.'.length)] = { data: file.float32(name), dims: [...file.get(name).shape] };
    }
    if (Object.keys(outputs).length === 0) {
      throw new CoreError(ErrorCode.INVALID_MODEL, `${path} holds no output.<name> tensors`);
    }
    const first = Object.values(feeds)[0];
    return { feeds, outputs, batchSize: first?.dims[0] ?? 1 };
  } finally {
    file.close();
  }
}
