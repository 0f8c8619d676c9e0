/**
 * The model registry: Hugging Face ids with their real configs, the model_type → family map,
 * parameter counts, and resolution of an id or a local Hugging Face directory to what the
 * generator needs (config, family, safetensors paths, tokenizer).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoreError, ErrorCode } from '../errors';
import { defaultTask, poolingFromConfig, tasksFor, type PoolingSpec, type Task } from '../onnx/tasks';
import { REGISTRY_ENTRIES, type RegistryEntry } from './registry-data';
import { countParameters } from './registry-params';

export { countParameters } from './registry-params';
export type { RegistryEntry } from './registry-data';

export type ModelFamily = 'encoder' | 'decoder' | 'vision' | 'encoder-decoder';
export const MODEL_FAMILIES: readonly ModelFamily[] = ['encoder', 'decoder', 'vision', 'encoder-decoder'];

/** config.json model_type → family. */
export const MODEL_TYPE_FAMILY: Readonly<Record<string, ModelFamily>> = {
  bert: 'encoder',
  roberta: 'encoder',
  'xlm-roberta': 'encoder',
  camembert: 'encoder',
  electra: 'encoder',
  distilbert: 'encoder',
  gpt2: 'decoder',
  llama: 'decoder',
  qwen2: 'decoder',
  vit: 'vision',
  deit: 'vision',
  t5: 'encoder-decoder',
};

export function familyOf(modelType: string): ModelFamily | undefined {
  return Object.prototype.hasOwnProperty.call(MODEL_TYPE_FAMILY, modelType)
    ? MODEL_TYPE_FAMILY[modelType]
    : undefined;
}

export interface ModelListing {
  id: string;
  family: ModelFamily;
  model_type: string;
  /** The task (head) built by default: the one the checkpoint's architectures name. */
  task: Task;
  /** Every task the builder can emit for this model. */
  tasks: Task[];
  /** sentence-transformers pooling, when the model is one (adds sentence_embedding). */
  pooling?: PoolingSpec;
  /** Parameters of the graph built by default (its task, its head). */
  parameters: number;
  /** parameters × 4 (the size of fp32 weights). */
  fp32_bytes: number;
}

export interface ResolvedModel {
  /** Registry id, or the absolute path of a local directory. */
  id: string;
  family: ModelFamily;
  modelType: string;
  config: Record<string, unknown>;
  /** The local directory, when resolved from one. */
  dir?: string;
  /** model.safetensors, or every shard of a sharded checkpoint, when present. */
  safetensorsPaths?: string[];
  /** tokenizer.json, when present. */
  tokenizerPath?: string;
  /** The checkpoint's own task (from architectures). */
  task: Task;
  /** sentence-transformers pooling (registry, or the folder's modules.json + 1_Pooling/config.json). */
  pooling?: PoolingSpec;
}

function cleanConfig(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
}

const BY_ID = new Map<string, RegistryEntry>();
for (const entry of REGISTRY_ENTRIES) {
  for (const name of [entry.id, ...(entry.aliases ?? [])]) BY_ID.set(name.toLowerCase(), entry);
}

/** Every registry model with its family and parameter count. */
export function listModels(): ModelListing[] {
  return REGISTRY_ENTRIES.map((e) => {
    const modelType = String(e.config.model_type);
    const config = cleanConfig(e.config);
    const parameters = countParameters(config);
    return {
      id: e.id,
      family: familyOf(modelType)!,
      model_type: modelType,
      task: defaultTask(config),
      tasks: tasksFor(modelType),
      ...(e.pooling ? { pooling: { ...e.pooling } } : {}),
      parameters,
      fp32_bytes: parameters * 4,
    };
  });
}

/** The registry entry for an id or alias (case-insensitive), or undefined. */
export function findModel(id: string): RegistryEntry | undefined {
  return BY_ID.get(id.trim().toLowerCase());
}

function unknownModel(what: string): CoreError {
  const types = Object.entries(MODEL_TYPE_FAMILY)
    .map(([t, f]) => `${t} (${f})`)
    .join(', ');
  return new CoreError(
    ErrorCode.UNKNOWN_MODEL,
    `${what}. Supported families: ${MODEL_FAMILIES.join(', ')}; model types: ${types}. ` +
      `Use a registry id (GET /api/models lists them) or a local directory holding a Hugging Face ` +
      `config.json with one of these model_type values (optionally model.safetensors or sharded ` +
      `model-0000x-of-0000y.safetensors with model.safetensors.index.json, and tokenizer.json).`,
    { supported_model_types: Object.keys(MODEL_TYPE_FAMILY), supported_families: MODEL_FAMILIES },
  );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The safetensors files of a local checkpoint directory (sharded via its index when present). */
export function findSafetensors(dir: string): string[] | undefined {
  const single = join(dir, 'model.safetensors');
  if (existsSync(single)) return [single];
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (existsSync(indexPath)) {
    let index: { weight_map?: Record<string, string> };
    try {
      index = JSON.parse(readFileSync(indexPath, 'utf8')) as typeof index;
    } catch (err) {
      throw new CoreError(ErrorCode.INVALID_MODEL, `cannot parse ${indexPath}: ${(err as Error).message}`);
    }
    const shards = [...new Set(Object.values(index.weight_map ?? {}))].sort().map((s) => join(dir, s));
    const missing = shards.filter((s) => !existsSync(s));
    if (shards.length === 0 || missing.length) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `${indexPath} lists ${shards.length} shard(s)${missing.length ? `; missing: ${missing.join(', ')}` : ''}`,
      );
    }
    return shards;
  }
  const shards = readdirSync(dir)
    .filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f))
    .sort()
    .map((f) => join(dir, f));
  return shards.length ? shards : undefined;
}

function resolveDirectory(dir: string): ResolvedModel {
  const abs = resolve(dir);
  const configPath = join(abs, 'config.json');
  if (!existsSync(configPath)) {
    throw unknownModel(`directory ${abs} has no config.json`);
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CoreError(ErrorCode.INVALID_MODEL, `cannot parse ${configPath}: ${(err as Error).message}`);
  }
  const modelType = typeof config.model_type === 'string' ? config.model_type : undefined;
  if (!modelType) throw unknownModel(`${configPath} has no model_type`);
  const family = familyOf(modelType);
  if (!family) throw unknownModel(`model_type "${modelType}" in ${configPath} is not supported`);
  const tokenizer = join(abs, 'tokenizer.json');
  return {
    id: abs,
    family,
    modelType,
    config,
    dir: abs,
    safetensorsPaths: findSafetensors(abs),
    tokenizerPath: existsSync(tokenizer) ? tokenizer : undefined,
    task: defaultTask(config),
    pooling: sentenceTransformersPooling(abs),
  };
}

/**
 * A sentence-transformers folder's pooling: modules.json lists a Pooling module (its path holds
 * config.json with the pooling_mode_* flags) and, optionally, a Normalize module.
 */
export function sentenceTransformersPooling(dir: string): PoolingSpec | undefined {
  const modulesPath = join(dir, 'modules.json');
  if (!existsSync(modulesPath)) return undefined;
  let modules: { type?: unknown; path?: unknown }[];
  try {
    const parsed: unknown = JSON.parse(readFileSync(modulesPath, 'utf8'));
    if (!Array.isArray(parsed)) throw new Error('not a list');
    modules = parsed as typeof modules;
  } catch (err) {
    throw new CoreError(ErrorCode.INVALID_MODEL, `cannot parse ${modulesPath}: ${(err as Error).message}`);
  }
  const type = (m: { type?: unknown }) => (typeof m.type === 'string' ? m.type : '');
  const pooling = modules.find((m) => type(m).endsWith('.Pooling'));
  if (!pooling) return undefined;
  const poolingConfig = join(
    dir,
    typeof pooling.path === 'string' ? pooling.path : '1_Pooling',
    'config.json',
  );
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(poolingConfig, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CoreError(ErrorCode.INVALID_MODEL, `cannot read ${poolingConfig}: ${(err as Error).message}`);
  }
  return poolingFromConfig(
    cfg,
    modules.some((m) => type(m).endsWith('.Normalize')),
  );
}

/**
 * A registry id (or alias) or a local directory with a Hugging Face config.json → what to build.
 * Unknown ids and unsupported model types are CoreError(UNKNOWN_MODEL).
 */
export function resolveModel(idOrDir: string): ResolvedModel {
  if (typeof idOrDir !== 'string' || idOrDir.trim() === '') throw unknownModel('no model given');
  if (isDirectory(idOrDir)) return resolveDirectory(idOrDir);
  const entry = findModel(idOrDir);
  if (!entry)
    throw unknownModel(`unknown model "${idOrDir}" (not in the registry and not a local directory)`);
  const modelType = String(entry.config.model_type);
  const config = cleanConfig(structuredClone(entry.config));
  return {
    id: entry.id,
    family: familyOf(modelType)!,
    modelType,
    config,
    task: defaultTask(config),
    ...(entry.pooling ? { pooling: { ...entry.pooling } } : {}),
  };
}
