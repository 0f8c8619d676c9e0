/**
 * Rendering: from a model's metadata to the TypeScript source of its implementation and of its spec.
 * Pure (no file system): what it returns depends only on its arguments and the templates.
 */
import { CoreError, ErrorCode } from '../errors';
import type { BackendName, TensorSpec } from '../types';
import { id2label } from '../onnx/tasks';
import { assertSlug } from './slug';
import {
  isFamily,
  renderTemplate,
  resolveTemplateContext,
  selectTemplate,
  type Family,
  type TemplateInfo,
  type TemplateValue,
} from './templates';

export type GeneratedInputRole =
  | 'ids'
  | 'mask'
  | 'token_types'
  | 'positions'
  | 'pixels'
  | 'decoder_ids'
  | 'decoder_mask'
  | 'past'
  | 'float'
  | 'other';

/** What an input holds, from its name (Hugging Face / optimum export names) and dtype. */
export function inputRole(spec: Pick<TensorSpec, 'name' | 'dtype'>): GeneratedInputRole {
  const name = spec.name.toLowerCase();
  if (name.startsWith('past_key_values') || name.startsWith('past.') || name.includes('.past_'))
    return 'past';
  if (name === 'decoder_input_ids') return 'decoder_ids';
  if (name === 'decoder_attention_mask') return 'decoder_mask';
  if (name === 'input_ids' || name === 'ids') return 'ids';
  if (name.endsWith('attention_mask')) return 'mask';
  if (name === 'token_type_ids') return 'token_types';
  if (name === 'position_ids') return 'positions';
  if (name === 'pixel_values') return 'pixels';
  if (spec.dtype.startsWith('float')) return 'float';
  return 'other';
}

export interface RenderOptions {
  slug: string;
  modelId: string;
  family: string;
  config?: Record<string, unknown>;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** The head the graph carries (optimum task name). */
  task?: string;
  /** sentence-transformers pooling the graph applies. */
  pooling?: { mode: string; normalize: boolean };
  backends: BackendName[];
  template?: string;
  templateContext?: Record<string, unknown>;
  /** Generator version written into the header. */
  generatorVersion: string;
  /** File names beside the implementation. */
  onnxFile?: string;
  /** The backends that load another graph than `onnxFile`, and its file. */
  backendGraphs?: Partial<Record<BackendName, string>>;
  /** The parsed tokenizer.json, when the model has one (used for the pad token). */
  tokenizerJson?: Record<string, unknown>;
  tokenizerFile?: string;
  tokenizerConfigFile?: string;
}

export interface RenderResult {
  template: TemplateInfo;
  settings: Record<string, TemplateValue>;
  /** `<slug>.ts` */
  source: string;
  /** `<slug>.spec.ts` */
  spec: string;
}

function num(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (Array.isArray(value) && typeof value[0] === 'number' && Number.isFinite(value[0])) return value[0];
  return undefined;
}

function firstNumber(config: Record<string, unknown>, keys: string[]): number | undefined {
  for (const key of keys) {
    const v = num(config[key]);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** vocabSize, maxPositions, imageSize, numChannels: from the config, then from fixed input dims. */
export function metadataExtras(
  family: Family,
  config: Record<string, unknown>,
  inputs: TensorSpec[],
): [string, number][] {
  const textConfig = (config.text_config ?? {}) as Record<string, unknown>;
  const visionConfig = (config.vision_config ?? {}) as Record<string, unknown>;
  const extras: [string, number | undefined][] = [];
  if (family !== 'vision') {
    extras.push([
      'vocabSize',
      firstNumber(config, ['vocab_size']) ?? firstNumber(textConfig, ['vocab_size']),
    ]);
    extras.push([
      'maxPositions',
      firstNumber(config, [
        'max_position_embeddings',
        'n_positions',
        'n_ctx',
        'max_sequence_length',
        'seq_length',
      ]) ?? firstNumber(textConfig, ['max_position_embeddings']),
    ]);
  }
  const pixels = inputs.find((i) => inputRole(i) === 'pixels');
  const fixed = (d: unknown): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);
  if (family === 'vision' || pixels) {
    extras.push([
      'imageSize',
      firstNumber(config, ['image_size']) ??
        firstNumber(visionConfig, ['image_size']) ??
        fixed(pixels?.shape[2]),
    ]);
    extras.push([
      'numChannels',
      firstNumber(config, ['num_channels']) ??
        firstNumber(visionConfig, ['num_channels']) ??
        fixed(pixels?.shape[1]),
    ]);
  }
  return extras.filter((e): e is [string, number] => e[1] !== undefined);
}

const PAD_TOKENS = ['[PAD]', '<pad>', '<|pad|>', '<|padding|>'];

/**
 * The pad token: the config's, else a pad-looking added token, else end-of-sequence, else 0; an id
 * outside the vocabulary (tiny test models keep gpt2's eos 50256 with 99 tokens) becomes 0.
 */
export function padTokenId(
  config: Record<string, unknown>,
  tokenizerJson?: Record<string, unknown>,
  vocabSize?: number,
): number {
  const id = padCandidate(config, tokenizerJson);
  return vocabSize !== undefined && (id < 0 || id >= vocabSize) ? 0 : id;
}

function padCandidate(config: Record<string, unknown>, tokenizerJson?: Record<string, unknown>): number {
  const fromConfig = num(config.pad_token_id);
  if (fromConfig !== undefined) return fromConfig;
  const added = Array.isArray(tokenizerJson?.added_tokens)
    ? (tokenizerJson.added_tokens as { id?: unknown; content?: unknown }[])
    : [];
  for (const content of PAD_TOKENS) {
    const token = added.find((t) => t.content === content && typeof t.id === 'number');
    if (token) return token.id as number;
  }
  return num(config.eos_token_id) ?? 0;
}

function checkSpecs(what: string, specs: unknown): TensorSpec[] {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new CoreError(ErrorCode.VALIDATION, `${what} must be a non-empty list of tensor specs`);
  }
  for (const s of specs as TensorSpec[]) {
    if (
      !s ||
      typeof s.name !== 'string' ||
      s.name.length === 0 ||
      typeof s.dtype !== 'string' ||
      !Array.isArray(s.shape) ||
      !s.shape.every((d) => (typeof d === 'number' && Number.isInteger(d)) || typeof d === 'string')
    ) {
      throw new CoreError(ErrorCode.VALIDATION, `${what}: invalid tensor spec ${JSON.stringify(s)}`);
    }
  }
  return (specs as TensorSpec[]).map((s) => ({ name: s.name, dtype: s.dtype, shape: [...s.shape] }));
}

/** Renders `<slug>.ts` and `<slug>.spec.ts` for one model. */
export function renderImplementation(opts: RenderOptions): RenderResult {
  const slug = assertSlug(opts.slug);
  if (typeof opts.modelId !== 'string' || opts.modelId.length === 0) {
    throw new CoreError(ErrorCode.VALIDATION, 'modelId must be a non-empty string');
  }
  if (!Array.isArray(opts.backends) || opts.backends.length === 0) {
    throw new CoreError(ErrorCode.VALIDATION, 'backends must list at least one backend');
  }
  const backends = [...new Set(opts.backends)];
  const template = selectTemplate(opts.family, backends, opts.template);
  const family = template.family;
  const settings = resolveTemplateContext(template, opts.templateContext);
  const inputs = checkSpecs('inputs', opts.inputs);
  const outputs = checkSpecs('outputs', opts.outputs);
  const config = opts.config ?? {};
  const hasTokenizer = opts.tokenizerFile !== undefined;
  const roles = Object.fromEntries(inputs.map((i) => [i.name, inputRole(i)]));
  const idsInput = inputs.find((i) => roles[i.name] === 'ids')?.name ?? 'input_ids';
  const extras = metadataExtras(family, config, inputs);
  const vocabSize = extras.find(([k]) => k === 'vocabSize')?.[1];
  const data = {
    generatorVersion: opts.generatorVersion,
    template: { name: template.name, family: template.family, backends: template.backends },
    slug,
    modelId: opts.modelId,
    family,
    backends: template.backends.filter((b) => backends.includes(b)),
    settings,
    roles,
    config,
    inputs,
    outputs,
    metadataExtras: extras,
    task: opts.task ?? null,
    id2label: id2label(config) ?? null,
    pooling: opts.pooling ?? null,
    hasSentenceEmbedding: outputs.some((o) => o.name === 'sentence_embedding'),
    kvCache: inputs.some((i) => i.name.startsWith('past_key_values.')),
    // Language models generate: causal LMs and T5 (input_ids in, logits over the vocabulary out).
    generative:
      (family === 'decoder' || family === 'encoder-decoder') && outputs.some((o) => o.name === 'logits'),
    hasTokenizer,
    onnxFile: opts.onnxFile ?? 'model.onnx',
    backendGraphs: opts.backendGraphs ?? {},
    tokenizerFile: opts.tokenizerFile ?? null,
    tokenizerConfigFile: opts.tokenizerConfigFile ?? null,
    needsHalf: inputs.some((i) => i.dtype === 'float16'),
    special: {
      padTokenId: padTokenId(config, opts.tokenizerJson, vocabSize),
      decoderStartTokenId: padTokenId(
        { pad_token_id: num(config.decoder_start_token_id) ?? num(config.pad_token_id) ?? 0 },
        undefined,
        vocabSize,
      ),
    },
    textInputs: { ids: idsInput },
  };
  if (!isFamily(data.family)) throw new CoreError(ErrorCode.INTERNAL, 'family lost while rendering');
  return {
    template,
    settings,
    source: renderTemplate('@implementation', data),
    spec: renderTemplate('@spec', data),
  };
}
