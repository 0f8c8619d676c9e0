/**
 * The generic ModelImplementation for any plain .onnx file: metadata from a CPU session's
 * declared inputs and outputs (names, dtypes, symbolic dims), enriched from a Hugging Face
 * config.json (and tokenizer.json) beside it when there is one.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import '../backends/ort-env';
import { CoreError, ErrorCode, errorMessage } from '../errors';
import type {
  Dim,
  EncodeOptions,
  Feeds,
  LoadOptions,
  MakeInputsOptions,
  ModelHandle,
  ModelImplementation,
  ModelMetadata,
  Outputs,
  TensorDtype,
  TensorSpec,
} from '../types';
import { TENSOR_DTYPES } from '../types';
import { inputRole, makeFeeds, makeInputs, makeTensor, resolveDims } from './inputs';

const DECODER_TYPES =
  /^(gpt2|gpt_neo|gpt_neox|gptj|gpt_bigcode|llama|mistral|mixtral|qwen\d*|qwen2_moe|phi\d*|gemma\d*|falcon|opt|bloom|mpt|codegen|starcoder2|olmo\d*|stablelm|smollm\d*|granite)$/;
const ENCODER_TYPES =
  /^(bert|distilbert|roberta|xlm-roberta|albert|electra|deberta(-v2)?|mpnet|camembert|xlm|ernie|nomic_bert|modernbert)$/;
const VISION_TYPES =
  /^(vit|deit|beit|dinov2|convnext|convnextv2|resnet|swin|swinv2|mobilevit|mobilenet_v[12]|efficientnet|regnet|levit|clip_vision_model|siglip_vision_model|yolos|detr)$/;
const ENCODER_DECODER_TYPES =
  /^(t5|mt5|bart|mbart|marian|pegasus|m2m_100|whisper|blenderbot|led|longt5|nllb)$/;

export interface HfConfigFacts {
  family: string;
  vocabSize?: number;
  maxPositions?: number;
  imageSize?: number;
  numChannels?: number;
}

function positiveInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return positiveInt(v[0]);
  return undefined;
}

/** Family, vocabulary, positions and image facts from a Hugging Face config. */
export function factsFromConfig(config: Record<string, unknown>): HfConfigFacts {
  const type = typeof config.model_type === 'string' ? config.model_type.toLowerCase() : '';
  const archs = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  let family = 'onnx';
  if (config.is_encoder_decoder === true || ENCODER_DECODER_TYPES.test(type)) family = 'encoder-decoder';
  else if (DECODER_TYPES.test(type) || archs.some((a) => /ForCausalLM$|LMHeadModel$/.test(a)))
    family = 'decoder';
  else if (VISION_TYPES.test(type) || archs.some((a) => /ForImageClassification$/.test(a))) family = 'vision';
  else if (ENCODER_TYPES.test(type) || archs.some((a) => /ForMaskedLM$|ForSequenceClassification$/.test(a)))
    family = 'encoder';
  const textConfig = (config.text_config ?? {}) as Record<string, unknown>;
  const visionConfig = (config.vision_config ?? {}) as Record<string, unknown>;
  return {
    family,
    vocabSize: positiveInt(config.vocab_size) ?? positiveInt(textConfig.vocab_size),
    maxPositions:
      positiveInt(config.max_position_embeddings) ??
      positiveInt(config.n_positions) ??
      positiveInt(config.n_ctx) ??
      positiveInt(textConfig.max_position_embeddings),
    imageSize: positiveInt(config.image_size) ?? positiveInt(visionConfig.image_size),
    numChannels: positiveInt(config.num_channels) ?? positiveInt(visionConfig.num_channels),
  };
}

function toSpec(meta: ort.InferenceSession.ValueMetadata, kind: 'input' | 'output'): TensorSpec {
  if (!meta.isTensor) {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `${kind} ${meta.name} is not a tensor: only tensor inputs/outputs are supported`,
    );
  }
  const type = String(meta.type);
  if (!(TENSOR_DTYPES as readonly string[]).includes(type) && kind === 'input') {
    throw new CoreError(ErrorCode.INVALID_MODEL, `input ${meta.name} has unsupported dtype ${type}`);
  }
  const shape: Dim[] = (meta.shape as readonly (number | string)[]).map((d, i) =>
    typeof d === 'number' && d >= 0 ? d : typeof d === 'string' && d !== '' ? d : `${meta.name}_dim_${i}`,
  );
  return { name: meta.name, dtype: type as TensorDtype, shape };
}

interface TokenizerLike {
  encode(
    text: string,
    options?: { add_special_tokens?: boolean },
  ): { ids: number[]; attention_mask: number[]; token_type_ids?: number[] };
  token_to_id(token: string): number | undefined;
}

export interface OnnxFileOptions {
  /** Metadata id (default: the file path). */
  id?: string;
  /** config.json to read; default: the one beside the file. `null`: none. */
  configPath?: string | null;
  /** tokenizer.json to read; default: the one beside the file. `null`: none. */
  tokenizerPath?: string | null;
}

export interface DeclaredIo {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** Declared IO by file, while the file stays the same (size, mtime, inode): runs of one model reuse it. */
const declaredIoCache = new Map<string, { stamp: string; io: DeclaredIo }>();
const DECLARED_IO_CACHE_LIMIT = 64;

/**
 * The declared inputs and outputs of an ONNX file, read with a CPU session that is released again.
 * Opening a session costs milliseconds of CPU even unoptimized, so the answer is kept for as long as
 * the file is unchanged.
 * @throws CoreError INVALID_MODEL when onnxruntime cannot load it.
 */
export async function readOnnxIo(path: string): Promise<DeclaredIo> {
  const st = statSync(path);
  const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
  const hit = declaredIoCache.get(path);
  // A copy each time: callers own (and may refine) the specs they get.
  if (hit?.stamp === stamp) return structuredClone(hit.io);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'disabled',
      logSeverityLevel: 4,
    });
  } catch (err) {
    throw new CoreError(ErrorCode.INVALID_MODEL, `onnxruntime cannot load ${path}: ${errorMessage(err)}`);
  }
  let io: DeclaredIo;
  try {
    io = {
      inputs: session.inputMetadata.map((m) => toSpec(m, 'input')),
      outputs: session.outputMetadata.map((m) => toSpec(m, 'output')),
    };
  } finally {
    await session.release();
  }
  declaredIoCache.delete(path);
  declaredIoCache.set(path, { stamp, io: structuredClone(io) });
  if (declaredIoCache.size > DECLARED_IO_CACHE_LIMIT) {
    declaredIoCache.delete(declaredIoCache.keys().next().value!);
  }
  return io;
}

export class OnnxFileModel implements ModelImplementation {
  private constructor(
    readonly metadata: ModelMetadata,
    private readonly tokenizer: { tok: TokenizerLike; padId: number } | undefined,
  ) {}

  /**
   * Reads the declared inputs and outputs with a CPU session (released again) and the
   * config beside the file.
   * @throws CoreError MODEL_NOT_FOUND (no file), INVALID_MODEL (onnxruntime cannot load it).
   */
  static async open(path: string, options: OnnxFileOptions = {}): Promise<OnnxFileModel> {
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new CoreError(ErrorCode.MODEL_NOT_FOUND, `ONNX file not found: ${path}`);
    }
    const { inputs, outputs } = await readOnnxIo(path);

    const dir = dirname(path);
    const configPath = options.configPath === undefined ? join(dir, 'config.json') : options.configPath;
    let config: Record<string, unknown> | undefined;
    if (configPath && existsSync(configPath)) {
      try {
        config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      } catch (err) {
        throw new CoreError(ErrorCode.INVALID_MODEL, `${configPath} is not valid JSON: ${errorMessage(err)}`);
      }
    }
    const facts: HfConfigFacts = config ? factsFromConfig(config) : { family: 'onnx' };
    if (facts.vocabSize === undefined) {
      // A language-model head declares the vocabulary as the fixed last axis of its logits.
      const logits = outputs.find((o) => o.name === 'logits');
      const last = logits?.shape[logits.shape.length - 1];
      if (typeof last === 'number' && last > 1 && inputs.some((i) => inputRole(i) === 'ids'))
        facts.vocabSize = last;
    }
    if (facts.imageSize === undefined) {
      const pixels = inputs.find((i) => inputRole(i) === 'pixels' && i.shape.length === 4);
      const h = pixels?.shape[2];
      if (typeof h === 'number') facts.imageSize = h;
      const c = pixels?.shape[1];
      if (typeof c === 'number' && facts.numChannels === undefined) facts.numChannels = c;
    }

    const tokenizerPath =
      options.tokenizerPath === undefined ? join(dir, 'tokenizer.json') : options.tokenizerPath;
    const tokenizer = tokenizerPath && existsSync(tokenizerPath) ? loadTokenizer(tokenizerPath) : undefined;

    const metadata: ModelMetadata = {
      id: options.id ?? path,
      family: facts.family,
      inputs,
      outputs,
      onnxPath: path,
      hasTokenizer: tokenizer !== undefined,
    };
    if (config) metadata.config = config;
    if (facts.vocabSize !== undefined) metadata.vocabSize = facts.vocabSize;
    if (facts.maxPositions !== undefined) metadata.maxPositions = facts.maxPositions;
    if (facts.imageSize !== undefined) metadata.imageSize = facts.imageSize;
    if (facts.numChannels !== undefined) metadata.numChannels = facts.numChannels;
    return new OnnxFileModel(metadata, tokenizer);
  }

  makeInputs(options: MakeInputsOptions): Feeds {
    return makeInputs(this.metadata, options);
  }

  async load(options: LoadOptions): Promise<ModelHandle> {
    const path = this.metadata.onnxPath!;
    let session: ort.InferenceSession | undefined = await ort.InferenceSession.create(path, {
      executionProviders: ['cpu'],
      ...options.sessionOptions,
    });
    const encode = this.tokenizer ? this.encodeFn(this.tokenizer) : undefined;
    const handle: ModelHandle = {
      backend: options.backend,
      run: async (feeds: Feeds): Promise<Outputs> => {
        if (!session)
          throw new CoreError(ErrorCode.VALIDATION, `${basename(path)}: session already released`);
        return (await session.run(feeds)) as Outputs;
      },
      release: async () => {
        const s = session;
        session = undefined;
        if (s) await s.release();
      },
    };
    if (encode) handle.encode = encode;
    return handle;
  }

  private encodeFn(t: { tok: TokenizerLike; padId: number }) {
    const metadata = this.metadata;
    return async (texts: string | string[], options: EncodeOptions = {}): Promise<Feeds> => {
      const list = Array.isArray(texts) ? texts : [texts];
      const maxLength = options.maxLength ?? metadata.maxPositions;
      const encoded = list.map((text) => {
        const e = t.tok.encode(text, { add_special_tokens: true });
        const n =
          options.truncation === false || !maxLength ? e.ids.length : Math.min(e.ids.length, maxLength);
        return {
          ids: e.ids.slice(0, n),
          mask: e.attention_mask.slice(0, n),
          types: (e.token_type_ids ?? []).slice(0, n),
        };
      });
      const longest = Math.max(1, ...encoded.map((e) => e.ids.length));
      const seq = options.padding === 'max_length' && maxLength ? maxLength : longest;
      const batch = list.length;
      const at = (row: number[], j: number, pad: number) => (j < row.length ? row[j]! : pad);
      const dims = resolveDims(metadata.inputs, {
        batchSize: batch,
        sequenceLength: seq,
        imageSize: metadata.imageSize,
        numChannels: metadata.numChannels,
      });
      const feeds = makeFeeds(metadata.inputs, dims, metadata);
      for (const spec of metadata.inputs) {
        const role = inputRole(spec);
        if (spec.shape.length !== 2) continue;
        const shape = [batch, seq];
        const cell = (i: number) => ({ r: Math.floor(i / seq), j: i % seq });
        if (role === 'ids')
          feeds[spec.name] = makeTensor(spec.dtype, shape, (i) => {
            const { r, j } = cell(i);
            return at(encoded[r]!.ids, j, t.padId);
          });
        else if (role === 'mask')
          feeds[spec.name] = makeTensor(spec.dtype, shape, (i) => {
            const { r, j } = cell(i);
            return at(encoded[r]!.mask, j, 0);
          });
        else if (role === 'token_types')
          feeds[spec.name] = makeTensor(spec.dtype, shape, (i) => {
            const { r, j } = cell(i);
            return at(encoded[r]!.types, j, 0);
          });
      }
      return feeds;
    };
  }
}

function loadTokenizer(path: string): { tok: TokenizerLike; padId: number } {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CoreError(ErrorCode.INVALID_MODEL, `${path} is not valid JSON: ${errorMessage(err)}`);
  }
  // @huggingface/tokenizers ships CommonJS for Node under its "require" condition.
  const req = createRequire(__filename);
  const { Tokenizer } = req('@huggingface/tokenizers') as {
    Tokenizer: new (tokenizer: object, config: object) => TokenizerLike;
  };
  const tok = new Tokenizer(json, {});
  const padding = json.padding as { pad_id?: number } | null | undefined;
  const padId = padding?.pad_id ?? tok.token_to_id('[PAD]') ?? tok.token_to_id('<pad>') ?? 0;
  return { tok, padId };
}
