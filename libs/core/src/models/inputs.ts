/**
 * Inputs that mean something for a model, from its declared input specs alone: ids inside the
 * vocabulary, masks of ones, token types of zeros, positions 0..n-1, seeded normal pixels.
 *
 * Symbolic dims are resolved once into a map symbol → size (`resolveDims`), so the same map
 * also checks the shapes of the outputs (`checkOutputSignature` in the test core).
 */
import { Tensor } from 'onnxruntime-node';
import { CoreError, ErrorCode } from '../errors';
import type {
  Dim,
  Feeds,
  InputRole,
  MakeInputsOptions,
  ModelMetadata,
  TensorDtype,
  TensorSpec,
} from '../types';
import { SeededRandom } from '../util/random';
import { floatToHalf } from '../util/safetensors';

export type DimKind =
  'batch' | 'sequence' | 'past_sequence' | 'total_sequence' | 'height' | 'width' | 'channels' | 'unknown';

/** What a symbolic dim name means, from its name alone. */
export function classifyDim(symbol: string): DimKind {
  const s = symbol
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
  if (
    /^(b|n|bs|batch|batch_size|batchsize|batch_dim|num_batches|unk__\d+_batch)$/.test(s) ||
    /(^|_)batch(_size)?($|_)/.test(s)
  )
    return 'batch';
  if (/past/.test(s) && /(seq|len|length)/.test(s)) return 'past_sequence';
  if (/^total_?seq(uence)?(_len(gth)?)?$/.test(s) || /total_sequence/.test(s)) return 'total_sequence';
  if (
    /^(s|t|l|seq|seqlen|seq_len|seq_length|sequence|sequence_length|sequence_len|sentence_length|num_tokens|tokens|token|max_length|encoder_sequence_length|decoder_sequence_length|text_length)$/.test(
      s,
    ) ||
    /(^|_)seq(uence)?(_len(gth)?)?($|_)/.test(s)
  )
    return 'sequence';
  if (/^(h|height|image_height|img_height|pixel_height)$/.test(s) || /(^|_)height$/.test(s)) return 'height';
  if (/^(w|width|image_width|img_width|pixel_width)$/.test(s) || /(^|_)width$/.test(s)) return 'width';
  if (/^(c|channels|num_channels|channel)$/.test(s)) return 'channels';
  return 'unknown';
}

/** What kind of data an input name holds. */
export function inputRole(spec: Pick<TensorSpec, 'name' | 'dtype'>): InputRole {
  const n = spec.name.toLowerCase();
  const isFloat = spec.dtype === 'float32' || spec.dtype === 'float16' || spec.dtype === 'float64';
  if (/token_type|segment_ids|type_ids/.test(n)) return 'token_types';
  if (/position_ids|positions$/.test(n)) return 'positions';
  if (/mask/.test(n)) return 'mask';
  if (/pixel|image|images|^img/.test(n) && isFloat) return 'pixels';
  if (!isFloat && (/(^|_)ids$/.test(n) || /^input_?ids|^tokens?$|^ids$|decoder_input_ids/.test(n)))
    return 'ids';
  if (isFloat) return 'float';
  return 'other';
}

export interface DimOptions {
  batchSize: number;
  sequenceLength?: number;
  /** Past sequence for decoders with a KV cache (default 0). */
  pastSequenceLength?: number;
  imageSize?: number;
  numChannels?: number;
  /** Size for a symbol nothing else explains (default: the sequence length). */
  unknownDefault?: number;
  /** Explicit sizes that win over every rule. */
  overrides?: Record<string, number>;
}

export const DEFAULT_SEQUENCE_LENGTH = 8;
export const DEFAULT_IMAGE_SIZE = 224;
export const SAFE_ID_RANGE = 32;

/**
 * Resolves every symbolic dim of `specs` (the model's inputs) to a size. A symbol nothing
 * names is placed by position: first axis → batch; second axis of a 2-D or 3-D integer
 * input → sequence; otherwise `unknownDefault`.
 */
export function resolveDims(specs: readonly TensorSpec[], options: DimOptions): Record<string, number> {
  const seq = options.sequenceLength ?? DEFAULT_SEQUENCE_LENGTH;
  const past = options.pastSequenceLength ?? 0;
  const image = options.imageSize ?? DEFAULT_IMAGE_SIZE;
  const out: Record<string, number> = {};
  for (const spec of specs) {
    spec.shape.forEach((dim, axis) => {
      if (typeof dim !== 'string' || dim in out) return;
      if (options.overrides && dim in options.overrides) {
        out[dim] = options.overrides[dim]!;
        return;
      }
      const kind = classifyDim(dim);
      switch (kind) {
        case 'batch':
          out[dim] = options.batchSize;
          return;
        case 'sequence':
          out[dim] = seq;
          return;
        case 'past_sequence':
          out[dim] = past;
          return;
        case 'total_sequence':
          out[dim] = past + seq;
          return;
        case 'height':
        case 'width':
          out[dim] = image;
          return;
        case 'channels':
          out[dim] = options.numChannels ?? 3;
          return;
        case 'unknown': {
          const role = inputRole(spec);
          if (axis === 0) out[dim] = options.batchSize;
          else if (
            axis === 1 &&
            (role === 'ids' || role === 'mask' || role === 'token_types' || role === 'positions')
          )
            out[dim] = seq;
          else if (role === 'pixels' && spec.shape.length === 4 && axis >= 2) out[dim] = image;
          else if (role === 'pixels' && spec.shape.length === 4 && axis === 1)
            out[dim] = options.numChannels ?? 3;
          else out[dim] = options.unknownDefault ?? seq;
        }
      }
    });
  }
  return out;
}

/** A declared shape with its symbols replaced; throws when a symbol is not in `dims`. */
export function resolveShape(shape: readonly Dim[], dims: Record<string, number>): number[] {
  return shape.map((d) => {
    if (typeof d === 'number') return d;
    const v = dims[d];
    if (v === undefined) throw new CoreError(ErrorCode.INVALID_MODEL, `symbolic dim ${d} is not resolved`);
    return v;
  });
}

/** Which of batch and sequence the model lets a caller choose (symbolic axes of its inputs). */
export function dynamicAxes(specs: readonly TensorSpec[]): { batch: boolean; sequence: boolean } {
  let batch = false;
  let sequence = false;
  const probe = resolveDims(specs, { batchSize: 1001, sequenceLength: 1003 });
  for (const v of Object.values(probe)) {
    if (v === 1001) batch = true;
    if (v === 1003) sequence = true;
  }
  return { batch, sequence };
}

export interface InputContext {
  vocabSize?: number;
  imageSize?: number;
  numChannels?: number;
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** One tensor of the given dtype filled by `fill(i)` (values as numbers). */
export function makeTensor(dtype: TensorDtype, shape: number[], fill: (i: number) => number): Tensor {
  const n = product(shape);
  switch (dtype) {
    case 'float32': {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = fill(i);
      return new Tensor('float32', a, shape);
    }
    case 'float64': {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = fill(i);
      return new Tensor('float64', a, shape);
    }
    case 'float16': {
      const a = new Uint16Array(n);
      for (let i = 0; i < n; i++) a[i] = floatToHalf(fill(i));
      return new Tensor('float16', a, shape);
    }
    case 'int64': {
      const a = new BigInt64Array(n);
      for (let i = 0; i < n; i++) a[i] = BigInt(Math.trunc(fill(i)));
      return new Tensor('int64', a, shape);
    }
    case 'int32': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = fill(i);
      return new Tensor('int32', a, shape);
    }
    case 'int8': {
      const a = new Int8Array(n);
      for (let i = 0; i < n; i++) a[i] = fill(i);
      return new Tensor('int8', a, shape);
    }
    case 'uint8': {
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) a[i] = fill(i);
      return new Tensor('uint8', a, shape);
    }
    case 'bool': {
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) a[i] = fill(i) ? 1 : 0;
      return new Tensor('bool', a, shape);
    }
    case 'string': {
      const a: string[] = [];
      for (let i = 0; i < n; i++) a.push(String(fill(i)));
      return new Tensor('string', a, shape);
    }
    default:
      throw new CoreError(ErrorCode.INVALID_MODEL, `cannot generate inputs of dtype ${String(dtype)}`);
  }
}

/** Generated feeds for `inputs` with every symbol sized by `dims`. */
export function makeFeeds(
  inputs: readonly TensorSpec[],
  dims: Record<string, number>,
  context: InputContext = {},
  seed = 0,
): Feeds {
  const rng = new SeededRandom(seed);
  const feeds: Feeds = {};
  for (const spec of inputs) {
    const shape = resolveShape(spec.shape, dims);
    const role = inputRole(spec);
    const last = shape[shape.length - 1] ?? 1;
    let fill: (i: number) => number;
    switch (role) {
      case 'ids': {
        const hi = context.vocabSize && context.vocabSize > 0 ? context.vocabSize : SAFE_ID_RANGE;
        fill = () => rng.int(0, hi);
        break;
      }
      case 'mask':
        fill = () => 1;
        break;
      case 'token_types':
        fill = () => 0;
        break;
      case 'positions':
        fill = (i) => i % last;
        break;
      case 'pixels':
      case 'float':
        fill = () => rng.normal();
        break;
      default:
        fill = () => 0;
    }
    feeds[spec.name] = makeTensor(spec.dtype, shape, fill);
  }
  return feeds;
}

/**
 * The `makeInputs` of a ModelImplementation: resolves the dims from the options and the
 * metadata (image size, channels) and generates the feeds.
 */
export function makeInputs(
  metadata: Pick<ModelMetadata, 'inputs' | 'vocabSize' | 'imageSize' | 'numChannels'>,
  options: MakeInputsOptions,
): Feeds {
  const dims = resolveDims(metadata.inputs, {
    batchSize: options.batchSize,
    sequenceLength: options.sequenceLength,
    imageSize: metadata.imageSize,
    numChannels: metadata.numChannels,
  });
  return makeFeeds(metadata.inputs, dims, metadata, options.seed ?? 0);
}

/**
 * The symbol → size map that actual feeds imply (what a generated implementation's
 * makeInputs chose), checked for consistency against the declared inputs.
 * @throws CoreError VALIDATION when a feed's rank or a fixed dim disagrees, or a symbol takes two sizes.
 */
export function bindDims(specs: readonly TensorSpec[], feeds: Feeds): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const spec of specs) {
    const t = feeds[spec.name];
    if (!t) continue;
    if (t.dims.length !== spec.shape.length) {
      throw new CoreError(
        ErrorCode.VALIDATION,
        `input ${spec.name}: rank ${t.dims.length} but the model declares [${spec.shape.join(', ')}]`,
      );
    }
    spec.shape.forEach((d, i) => {
      const actual = t.dims[i]!;
      if (typeof d === 'number') {
        if (d >= 0 && d !== actual)
          throw new CoreError(
            ErrorCode.VALIDATION,
            `input ${spec.name}: axis ${i} is ${actual}, declared ${d}`,
          );
      } else if (d in dims && dims[d] !== actual) {
        throw new CoreError(
          ErrorCode.VALIDATION,
          `input ${spec.name}: symbol ${d} is ${actual} here but ${dims[d]} in another input`,
        );
      } else dims[d] = actual;
    });
  }
  return dims;
}
