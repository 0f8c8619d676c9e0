/**
 * generateImplementation: a folder holding model.onnx (+ model.onnx.data) becomes a typed,
 * self-contained implementation beside it: `<slug>.ts`, its compiled `<slug>.js`, `<slug>.spec.ts`,
 * tokenizer.json when there is one, and `manifest.json` with a CID for every file.
 * Steps (reported through onProgress): validate → render → type-check → manifest.
 */
import { copyFileSync, existsSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CoreError, ErrorCode, errorMessage, throwIfAborted } from '../errors';
import { isBackendName, type BackendName, type TensorSpec } from '../types';
import { hostNodeModules, typecheckAndCompile } from './compile';
import {
  GENERATOR_NAME,
  MANIFEST_FILE,
  MANIFEST_VERSION,
  cidOfBytes,
  describeFiles,
  generatorVersion,
  serializeManifest,
  type GenerationManifest,
  type ManifestFile,
} from './manifest';
import { metadataExtras, renderImplementation } from './render';
import { id2label } from '../onnx/tasks';
import { assertSlug } from './slug';
import { isFamily, type TemplateInfo } from './templates';
import { backendOps, type BackendGraph, type GraphFlavour } from '../onnx';

export const ONNX_FILE = 'model.onnx';
export const ONNX_DATA_FILE = 'model.onnx.data';
export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

export interface GenerateOptions {
  /** Holds model.onnx (+ model.onnx.data) and optionally tokenizer.json; the output is written here too. */
  modelDir: string;
  slug: string;
  modelId: string;
  family: string;
  config: Record<string, unknown>;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** The head the graph carries (optimum task name). */
  task?: string;
  /** sentence-transformers pooling the graph applies (its sentence_embedding output). */
  pooling?: { mode: string; normalize: boolean };
  backends: BackendName[];
  /** A template name from listTemplates(); default: the narrowest one for the family and backends. */
  template?: string;
  /** Values for the template's declared variables only. */
  templateContext?: Record<string, unknown>;
  weightsSource: 'random' | 'safetensors';
  /** fp32, fp16, int8, int4 (recorded in the manifest). */
  precision: string;
  /** int4: the quantization block size (recorded in the manifest). */
  blockSize?: number;
  /** The graph flavour (recorded in the manifest; default portable). */
  graph?: GraphFlavour;
  /** The com.microsoft ops model.onnx uses: the manifest says which backends run them. */
  contribOps?: string[];
  /**
   * Per backend, the graph file it loads when that is not model.onnx (buildOnnxModel's
   * backendGraphs): the implementation loads it on that backend and the manifest lists it.
   */
  backendGraphs?: Partial<Record<BackendName, BackendGraph>>;
  seed?: number;
  /** A tokenizer.json to copy beside the implementation (its tokenizer_config.json comes along). */
  tokenizerPath?: string;
  onProgress?: (fraction: number, step: string) => void;
  signal?: AbortSignal;
}

export interface GenerateResult {
  /** `<slug>.ts` */
  filePath: string;
  /** `<slug>.js`, compiled from it. */
  jsPath: string;
  specPath: string;
  onnxPath: string;
  manifestPath: string;
  manifest: GenerationManifest;
  /** CIDv1 of manifest.json's bytes. */
  cid: string;
  template: TemplateInfo;
}

function validation(message: string, field?: string): CoreError {
  return new CoreError(ErrorCode.VALIDATION, message, field ? [{ field, message }] : undefined);
}

function onnxruntimeVersion(): string | undefined {
  try {
    const pkg = JSON.parse(
      readFileSync(join(hostNodeModules(), 'onnxruntime-node', 'package.json'), 'utf8'),
    ) as {
      version?: string;
    };
    return pkg.version;
  } catch {
    return undefined;
  }
}

/** Tokens a tokenizer.json can produce: its model's vocabulary and its added tokens. */
export function tokenizerVocabSize(json: Record<string, unknown>): number {
  const model = (json.model ?? {}) as { vocab?: unknown };
  let size = 0;
  if (Array.isArray(model.vocab)) size = model.vocab.length;
  else if (model.vocab && typeof model.vocab === 'object') {
    for (const id of Object.values(model.vocab as Record<string, unknown>)) {
      if (typeof id === 'number') size = Math.max(size, id + 1);
    }
  }
  for (const t of (Array.isArray(json.added_tokens) ? json.added_tokens : []) as { id?: unknown }[]) {
    if (typeof t.id === 'number') size = Math.max(size, t.id + 1);
  }
  return size;
}

function readJson(path: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new CoreError(ErrorCode.INVALID_MODEL, `${what} ${path} is not valid JSON: ${errorMessage(err)}`);
  }
}

function sameFile(a: string, b: string): boolean {
  return resolve(a) === resolve(b);
}

/** Renders, type-checks, compiles and describes one implementation. */
export async function generateImplementation(opts: GenerateOptions): Promise<GenerateResult> {
  const progress = (fraction: number, step: string): void => opts.onProgress?.(fraction, step);
  const signal = opts.signal;
  throwIfAborted(signal);
  progress(0, 'validate');

  const dir = resolve(opts.modelDir ?? '');
  const onnxPath = join(dir, ONNX_FILE);
  if (!opts.modelDir || !existsSync(onnxPath) || !statSync(onnxPath).isFile()) {
    throw new CoreError(
      ErrorCode.MODEL_NOT_FOUND,
      `${onnxPath} does not exist: modelDir must hold ${ONNX_FILE}`,
    );
  }
  const slug = assertSlug(opts.slug);
  if (!isFamily(opts.family)) throw validation(`unknown family ${JSON.stringify(opts.family)}`, 'family');
  if (!Array.isArray(opts.backends) || opts.backends.length === 0 || !opts.backends.every(isBackendName)) {
    throw validation('backends must be a non-empty list of cpu, cuda, webgpu', 'backends');
  }
  if (opts.weightsSource !== 'random' && opts.weightsSource !== 'safetensors') {
    throw validation('weightsSource must be random or safetensors', 'weights_source');
  }
  if (typeof opts.precision !== 'string' || !/^[a-z0-9_-]{1,16}$/i.test(opts.precision)) {
    throw validation('precision must be a short name such as fp32 or fp16', 'precision');
  }
  if (opts.seed !== undefined && !Number.isInteger(opts.seed))
    throw validation('seed must be an integer', 'seed');

  // The tokenizer travels with the implementation.
  let tokenizerFile: string | undefined;
  let tokenizerConfigFile: string | undefined;
  let tokenizerJson: Record<string, unknown> | undefined;
  const written: string[] = [];
  const tokenizerTarget = join(dir, TOKENIZER_FILE);
  const tokenizerSource = opts.tokenizerPath ?? (existsSync(tokenizerTarget) ? tokenizerTarget : undefined);
  if (tokenizerSource !== undefined) {
    if (!existsSync(tokenizerSource))
      throw validation(`tokenizer ${tokenizerSource} does not exist`, 'tokenizerPath');
    tokenizerJson = readJson(tokenizerSource, 'tokenizer');
    if (typeof tokenizerJson.model !== 'object' || tokenizerJson.model === null) {
      throw new CoreError(ErrorCode.INVALID_MODEL, `${tokenizerSource} has no tokenizer model`);
    }
    const modelVocab = metadataExtras(opts.family, opts.config ?? {}, opts.inputs ?? []).find(
      ([k]) => k === 'vocabSize',
    )?.[1];
    const tokenizerVocab = tokenizerVocabSize(tokenizerJson);
    if (modelVocab !== undefined && tokenizerVocab > modelVocab) {
      throw validation(
        `the tokenizer has ${tokenizerVocab} tokens but the model's vocabulary only ${modelVocab}: its ids would not fit`,
        'tokenizerPath',
      );
    }
    const configSource = join(dirname(tokenizerSource), TOKENIZER_CONFIG_FILE);
    if (existsSync(configSource)) {
      readJson(configSource, 'tokenizer config');
      tokenizerConfigFile = TOKENIZER_CONFIG_FILE;
    }
    if (!sameFile(tokenizerSource, tokenizerTarget)) {
      copyFileSync(tokenizerSource, tokenizerTarget);
      written.push(tokenizerTarget);
      if (tokenizerConfigFile) {
        copyFileSync(configSource, join(dir, TOKENIZER_CONFIG_FILE));
        written.push(join(dir, TOKENIZER_CONFIG_FILE));
      }
    }
    tokenizerFile = TOKENIZER_FILE;
  }

  const labels = id2label(opts.config ?? {});
  const filePath = join(dir, `${slug}.ts`);
  const jsPath = join(dir, `${slug}.js`);
  const specPath = join(dir, `${slug}.spec.ts`);
  const manifestPath = join(dir, MANIFEST_FILE);
  const version = generatorVersion();
  try {
    throwIfAborted(signal);
    progress(0.05, 'render');
    const backends = [...new Set(opts.backends)];
    const graphs: Partial<Record<BackendName, BackendGraph>> = {};
    for (const b of backends) {
      const own = opts.backendGraphs?.[b];
      if (own && own.file !== ONNX_FILE) {
        if (!/^model\.[a-z0-9]+\.onnx$/.test(own.file) || !existsSync(join(dir, own.file)))
          throw validation(`the ${b} graph ${own.file} is not in ${dir}`, 'backendGraphs');
        graphs[b] = own;
      } else graphs[b] = { file: ONNX_FILE, contribOps: opts.contribOps ?? own?.contribOps ?? [] };
    }
    const ownGraphs = Object.fromEntries(
      Object.entries(graphs)
        .filter(([, g]) => g.file !== ONNX_FILE)
        .map(([b, g]) => [b, g.file]),
    ) as Partial<Record<BackendName, string>>;
    const rendered = renderImplementation({
      slug,
      modelId: opts.modelId,
      family: opts.family,
      config: opts.config,
      inputs: opts.inputs,
      outputs: opts.outputs,
      task: opts.task,
      pooling: opts.pooling,
      backends: opts.backends,
      template: opts.template,
      templateContext: opts.templateContext,
      generatorVersion: version,
      onnxFile: ONNX_FILE,
      backendGraphs: ownGraphs,
      tokenizerJson,
      tokenizerFile,
      tokenizerConfigFile,
    });
    writeFileSync(filePath, rendered.source);
    written.push(filePath);
    writeFileSync(specPath, rendered.spec);
    written.push(specPath);

    throwIfAborted(signal);
    progress(0.15, 'type-check');
    typecheckAndCompile(filePath);
    written.push(jsPath);
    throwIfAborted(signal);
    progress(0.55, 'type-check spec');
    typecheckAndCompile(specPath, { emit: false, types: ['node', 'jest'] });

    throwIfAborted(signal);
    progress(0.8, 'manifest');
    const files: { path: string; role: ManifestFile['role'] }[] = [
      { path: `${slug}.ts`, role: 'implementation' },
      { path: `${slug}.js`, role: 'compiled' },
      { path: `${slug}.spec.ts`, role: 'spec' },
      { path: ONNX_FILE, role: 'onnx' },
      ...[...new Set(Object.values(ownGraphs))].sort().map((path) => ({ path, role: 'onnx' as const })),
    ];
    if (existsSync(join(dir, ONNX_DATA_FILE))) files.push({ path: ONNX_DATA_FILE, role: 'onnx-data' });
    if (tokenizerFile) files.push({ path: tokenizerFile, role: 'tokenizer' });
    if (tokenizerConfigFile) files.push({ path: tokenizerConfigFile, role: 'tokenizer-config' });
    const manifest: GenerationManifest = {
      manifest_version: MANIFEST_VERSION,
      model_id: opts.modelId,
      slug,
      family: opts.family,
      config: opts.config ?? {},
      template: rendered.template.name,
      template_context: rendered.settings,
      backends,
      generator: { name: GENERATOR_NAME, version },
      onnxruntime_version: onnxruntimeVersion(),
      weights_source: opts.weightsSource,
      precision: opts.precision,
      ...(opts.blockSize !== undefined ? { block_size: opts.blockSize } : {}),
      seed: opts.seed ?? null,
      inputs: opts.inputs,
      outputs: opts.outputs,
      ...(opts.task ? { task: opts.task } : {}),
      ...(labels ? { id2label: labels } : {}),
      ...(opts.pooling ? { pooling: opts.pooling } : {}),
      graph: opts.graph ?? 'portable',
      ...(Object.keys(ownGraphs).length > 0 ? { backend_graphs: ownGraphs } : {}),
      backend_ops: Object.assign(
        {},
        ...backends.map((b) => backendOps(graphs[b]!.contribOps, [b])),
      ) as GenerationManifest['backend_ops'],
      kv_cache: opts.inputs.some((i) => i.name.startsWith('past_key_values.')),
      has_tokenizer: tokenizerFile !== undefined,
      created_at: new Date().toISOString(),
      files: await describeFiles(dir, files, signal),
    };
    const text = serializeManifest(manifest);
    throwIfAborted(signal);
    writeFileSync(manifestPath, text);
    written.push(manifestPath);
    progress(1, 'done');
    return {
      filePath,
      jsPath,
      specPath,
      onnxPath,
      manifestPath,
      manifest,
      cid: cidOfBytes(text),
      template: rendered.template,
    };
  } catch (err) {
    // A failed generation leaves no half-made implementation behind (the model files stay).
    for (const path of written) {
      try {
        unlinkSync(path);
      } catch {
        /* already gone */
      }
    }
    throw err;
  }
}
