/**
 * Tasks (heads) as optimum names them, which family builds which, the default task of a checkpoint
 * (from its config's `architectures`, as optimum's TasksManager infers it from the class-name suffix),
 * label maps, and sentence-transformers pooling.
 */
import { CoreError, ErrorCode } from '../errors';

export const TASKS = [
  'feature-extraction',
  'fill-mask',
  'text-classification',
  'token-classification',
  'image-classification',
  'text-generation',
  'text2text-generation',
] as const;
export type Task = (typeof TASKS)[number];

export function isTask(value: unknown): value is Task {
  return typeof value === 'string' && (TASKS as readonly string[]).includes(value);
}

const ENCODER_TASKS: Task[] = [
  'feature-extraction',
  'fill-mask',
  'text-classification',
  'token-classification',
];

/** model_type → the tasks the builder can emit for it. */
const MODEL_TYPE_TASKS: Record<string, Task[]> = {
  bert: ENCODER_TASKS,
  roberta: ENCODER_TASKS,
  'xlm-roberta': ENCODER_TASKS,
  camembert: ENCODER_TASKS,
  electra: ENCODER_TASKS,
  distilbert: ENCODER_TASKS,
  gpt2: ['text-generation', 'feature-extraction'],
  llama: ['text-generation', 'feature-extraction'],
  qwen2: ['text-generation', 'feature-extraction'],
  vit: ['feature-extraction', 'image-classification'],
  deit: ['feature-extraction', 'image-classification'],
  t5: ['text2text-generation', 'feature-extraction'],
};

/** The tasks the builder emits for a model_type (empty when unknown). */
export function tasksFor(modelType: string): Task[] {
  return [...(MODEL_TYPE_TASKS[modelType] ?? [])];
}

/** Class-name suffix → task, as optimum's TasksManager maps transformers' architectures. */
const SUFFIX_TASKS: [string, Task][] = [
  ['ForMaskedLM', 'fill-mask'],
  ['ForSequenceClassification', 'text-classification'],
  ['ForTokenClassification', 'token-classification'],
  ['ForImageClassificationWithTeacher', 'image-classification'],
  ['ForImageClassification', 'image-classification'],
  ['ForCausalLM', 'text-generation'],
  ['LMHeadModel', 'text-generation'],
  ['ForConditionalGeneration', 'text2text-generation'],
  ['ForPreTraining', 'feature-extraction'],
  ['Model', 'feature-extraction'],
];

/** The task a checkpoint's `architectures` names (first class that maps), or feature-extraction. */
export function defaultTask(config: Record<string, unknown>): Task {
  const modelType = String(config.model_type);
  const supported = tasksFor(modelType);
  const archs = Array.isArray(config.architectures) ? config.architectures : [];
  for (const arch of archs) {
    if (typeof arch !== 'string') continue;
    const hit = SUFFIX_TASKS.find(([suffix]) => arch.endsWith(suffix));
    if (hit && supported.includes(hit[1])) return hit[1];
  }
  return supported[0] ?? 'feature-extraction';
}

/** The requested task, checked against the model type; without one, the checkpoint's default. */
export function resolveTask(config: Record<string, unknown>, requested?: string): Task {
  if (requested === undefined) return defaultTask(config);
  const modelType = String(config.model_type);
  const supported = tasksFor(modelType);
  if (!isTask(requested) || !supported.includes(requested)) {
    throw new CoreError(
      ErrorCode.UNPROCESSABLE,
      `task "${requested}" is not available for model_type "${modelType}"; available: ${supported.join(', ')}`,
      { task: requested, available_tasks: supported },
    );
  }
  return requested;
}

/** The config's id2label with string keys "0".."n-1", when it has one. */
export function id2label(config: Record<string, unknown>): Record<string, string> | undefined {
  const map = config.id2label;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map as Record<string, unknown>)) out[String(Number(k))] = String(v);
  return Object.keys(out).length ? out : undefined;
}

/** Number of labels: id2label's size, else num_labels, else transformers' default 2. */
export function numLabels(config: Record<string, unknown>): number {
  const labels = id2label(config);
  if (labels) return Object.keys(labels).length;
  const n = config.num_labels;
  if (typeof n === 'number' && Number.isInteger(n) && n > 0) return n;
  return 2;
}

export type PoolingMode = 'mean' | 'cls' | 'max' | 'mean_sqrt_len';

/** sentence-transformers' Pooling (+ Normalize) modules. */
export interface PoolingSpec {
  mode: PoolingMode;
  /** A Normalize module follows the pooling (L2, eps 1e-12). */
  normalize: boolean;
}

export function isPoolingSpec(v: unknown): v is PoolingSpec {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return (
    typeof p.normalize === 'boolean' &&
    (p.mode === 'mean' || p.mode === 'cls' || p.mode === 'max' || p.mode === 'mean_sqrt_len')
  );
}

/**
 * Pooling from a sentence-transformers `1_Pooling/config.json` (and whether modules.json lists a
 * Normalize module). Exactly one supported mode must be set.
 */
export function poolingFromConfig(pooling: Record<string, unknown>, normalize: boolean): PoolingSpec {
  const modes: [string, PoolingMode][] = [
    ['pooling_mode_cls_token', 'cls'],
    ['pooling_mode_mean_tokens', 'mean'],
    ['pooling_mode_max_tokens', 'max'],
    ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len'],
  ];
  const set = modes.filter(([k]) => pooling[k] === true).map(([, m]) => m);
  const unsupported = ['pooling_mode_weightedmean_tokens', 'pooling_mode_lasttoken'].filter(
    (k) => pooling[k] === true,
  );
  if (set.length !== 1 || unsupported.length) {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `sentence-transformers pooling: exactly one of cls, mean, max or mean_sqrt_len tokens must be set ` +
        `(got ${[...set, ...unsupported].join(', ') || 'none'})`,
    );
  }
  return { mode: set[0]!, normalize };
}
