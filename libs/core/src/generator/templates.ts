/**
 * The template library: which templates exist, what they declare, and the engine that renders them.
 *
 * Engine: Eta (https://eta.js.org). Chosen because it is fast (templates compile once to plain JS
 * functions and are cached), small, written in TypeScript with its own typings, precompiles (every
 * template is compiled when this module first renders, so a broken template fails at once, not in the
 * middle of a generation), has no runtime dependencies, and lets the escape function be configured.
 * We configure it so that every `<%= value %>` interpolation is emitted as a JS/JSON literal
 * ({@link jsLiteral}): a model id, config value or template variable can only ever become data in the
 * generated code, never code. `<%~ %>` (raw) is used for includes only.
 *
 * A template is a composition, not a file copied per variant: the layout (`implementation.eta`) plus
 * one family partial (`families/<family>.eta`: makeInputs and the text-feed rules) plus one session
 * partial per backend of its group (`backends/<backend>.eta`), with shared partials for types, random
 * numbers, tensors, the tokenizer and the handle. Each family has three templates, one per backend
 * group: `<family>-native` (cpu, cuda), `<family>-webgpu` (webgpu) and `<family>-universal` (all).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { Eta } from 'eta';
import { CoreError, ErrorCode } from '../errors';
import { BACKEND_NAMES, type BackendName } from '../types';

export const FAMILIES = ['encoder', 'decoder', 'vision', 'encoder-decoder'] as const;
export type Family = (typeof FAMILIES)[number];

export function isFamily(value: unknown): value is Family {
  return typeof value === 'string' && (FAMILIES as readonly string[]).includes(value);
}

export type TemplateVariableType = 'string' | 'integer' | 'number' | 'boolean' | 'enum';
export type TemplateValue = string | number | boolean;

export interface TemplateVariable {
  name: string;
  type: TemplateVariableType;
  description: string;
  default: TemplateValue;
  /** Allowed values, for `enum`. */
  values?: readonly string[];
  /** Inclusive bounds, for `integer` and `number`. */
  min?: number;
  max?: number;
}

export interface TemplateInfo {
  name: string;
  family: Family;
  backends: BackendName[];
  variables: TemplateVariable[];
  description: string;
}

const COMMON_VARIABLES: TemplateVariable[] = [
  {
    name: 'description',
    type: 'string',
    default: '',
    description: 'free text kept in the module as its DESCRIPTION export (and in the manifest)',
  },
  {
    name: 'graphOptimizationLevel',
    type: 'enum',
    values: ['disabled', 'basic', 'extended', 'all'],
    default: 'all',
    description: 'onnxruntime graph optimization level for every session the implementation opens',
  },
  {
    name: 'intraOpNumThreads',
    type: 'integer',
    min: 0,
    max: 1024,
    default: 0,
    description: 'threads inside one operator; 0 keeps onnxruntime’s default',
  },
  {
    name: 'logSeverityLevel',
    type: 'integer',
    min: 0,
    max: 4,
    default: 3,
    description: 'onnxruntime log level (0 verbose … 4 fatal); 3 shows errors only',
  },
  {
    name: 'defaultSequenceLength',
    type: 'integer',
    min: 1,
    max: 1_000_000,
    default: 16,
    description: 'makeInputs sequence length when the caller gives none (capped at the model’s positions)',
  },
];

const TEXT_VARIABLES: TemplateVariable[] = [
  {
    name: 'encodeMaxLength',
    type: 'integer',
    min: 0,
    max: 1_000_000,
    default: 0,
    description: 'encode() maxLength when the caller gives none; 0 uses the model’s maximum positions',
  },
];

const FAMILY_VARIABLES: Record<Family, TemplateVariable[]> = {
  encoder: TEXT_VARIABLES,
  decoder: TEXT_VARIABLES,
  'encoder-decoder': [
    ...TEXT_VARIABLES,
    {
      name: 'decoderSequenceLength',
      type: 'integer',
      min: 0,
      max: 1_000_000,
      default: 0,
      description: 'makeInputs decoder_input_ids length; 0 uses the encoder’s sequence length',
    },
  ],
  vision: [
    {
      name: 'pixelMean',
      type: 'number',
      min: -1e6,
      max: 1e6,
      default: 0,
      description: 'mean of the seeded normal pixel values makeInputs generates',
    },
    {
      name: 'pixelStd',
      type: 'number',
      min: 1e-9,
      max: 1e6,
      default: 1,
      description: 'standard deviation of the seeded normal pixel values makeInputs generates',
    },
  ],
};

const BACKEND_VARIABLES: Record<BackendName, TemplateVariable[]> = {
  cpu: [
    {
      name: 'cpuUseArena',
      type: 'boolean',
      default: true,
      description: 'cpu execution provider: use the memory arena',
    },
  ],
  cuda: [
    {
      name: 'cudaDeviceId',
      type: 'integer',
      min: 0,
      max: 63,
      default: 0,
      description: 'cuda execution provider: device ordinal',
    },
  ],
  webgpu: [
    {
      name: 'webgpuPreferredLayout',
      type: 'enum',
      values: ['NCHW', 'NHWC'],
      default: 'NCHW',
      description: 'webgpu execution provider: preferred layout of layout-sensitive operators',
    },
  ],
};

const BACKEND_GROUPS: { group: string; backends: BackendName[]; description: string }[] = [
  { group: 'universal', backends: [...BACKEND_NAMES], description: 'cpu, cuda and webgpu' },
  { group: 'native', backends: ['cpu', 'cuda'], description: 'onnxruntime’s native cpu and cuda providers' },
  { group: 'webgpu', backends: ['webgpu'], description: 'the webgpu provider only' },
];

const FAMILY_DESCRIPTIONS: Record<Family, string> = {
  encoder: 'text encoder (BERT-like): ids, attention mask, token types',
  decoder: 'causal language model (GPT-2/Llama-like): ids, attention mask, positions',
  vision: 'vision transformer (ViT-like): pixel values',
  'encoder-decoder': 'sequence-to-sequence model (T5-like): ids, mask, decoder ids',
};

const CATALOG: TemplateInfo[] = FAMILIES.flatMap((family) =>
  BACKEND_GROUPS.map(({ group, backends, description }) => ({
    name: `${family}-${group}`,
    family,
    backends,
    variables: [
      ...COMMON_VARIABLES,
      ...FAMILY_VARIABLES[family],
      ...backends.flatMap((b) => BACKEND_VARIABLES[b]),
    ],
    description: `${FAMILY_DESCRIPTIONS[family]}; ${description}`,
  })),
);

function copyTemplate(t: TemplateInfo): TemplateInfo {
  return {
    ...t,
    backends: [...t.backends],
    variables: t.variables.map((v) => ({ ...v, ...(v.values ? { values: [...v.values] } : {}) })),
  };
}

/** Every template, with the variables `template_context` may set. */
export function listTemplates(): TemplateInfo[] {
  return CATALOG.map(copyTemplate);
}

/**
 * The template to render: `name` when given (it must exist, be for `family` and cover `backends`),
 * otherwise the narrowest group that covers `backends`.
 */
export function selectTemplate(
  family: string,
  backends: readonly BackendName[],
  name?: string,
): TemplateInfo {
  if (!isFamily(family)) {
    throw new CoreError(
      ErrorCode.VALIDATION,
      `unknown model family ${JSON.stringify(family)}; one of ${FAMILIES.join(', ')}`,
    );
  }
  if (name !== undefined) {
    const found = CATALOG.find((t) => t.name === name);
    const compatible = CATALOG.filter((t) => t.family === family).map((t) => t.name);
    if (!found) {
      throw new CoreError(
        ErrorCode.VALIDATION,
        `unknown template ${JSON.stringify(name)}; templates for family ${family}: ${compatible.join(', ')}`,
        { field: 'template_type', allowed: compatible },
      );
    }
    if (found.family !== family) {
      throw new CoreError(
        ErrorCode.VALIDATION,
        `template ${found.name} is for ${found.family} models, but this model is ${family}; use one of ${compatible.join(', ')}`,
        { field: 'template_type', allowed: compatible },
      );
    }
    const missing = backends.filter((b) => !found.backends.includes(b));
    if (missing.length > 0) {
      throw new CoreError(
        ErrorCode.VALIDATION,
        `template ${found.name} does not support backend ${missing.join(', ')} (it supports ${found.backends.join(', ')})`,
        { field: 'backends' },
      );
    }
    return copyTemplate(found);
  }
  const candidates = CATALOG.filter(
    (t) => t.family === family && backends.every((b) => t.backends.includes(b)),
  );
  candidates.sort((a, b) => a.backends.length - b.backends.length);
  const best = candidates[0];
  if (!best)
    throw new CoreError(ErrorCode.VALIDATION, `no ${family} template supports ${backends.join(', ')}`);
  return copyTemplate(best);
}

/** Longest string a template variable may hold. */
const MAX_STRING_VARIABLE = 4096;

function describeType(v: TemplateVariable): string {
  if (v.type === 'string') return `a string of at most ${MAX_STRING_VARIABLE} characters`;
  if (v.type === 'enum') return `one of ${(v.values ?? []).map((x) => JSON.stringify(x)).join(', ')}`;
  const bounds = v.min !== undefined || v.max !== undefined ? ` in [${v.min ?? '-∞'}, ${v.max ?? '∞'}]` : '';
  return `${v.type === 'integer' ? 'an integer' : `a ${v.type}`}${bounds}`;
}

function checkValue(v: TemplateVariable, value: unknown): string | null {
  switch (v.type) {
    case 'boolean':
      return typeof value === 'boolean' ? null : describeType(v);
    case 'string':
      return typeof value === 'string' && value.length <= MAX_STRING_VARIABLE ? null : describeType(v);
    case 'enum':
      return typeof value === 'string' && (v.values ?? []).includes(value) ? null : describeType(v);
    case 'integer':
    case 'number': {
      const ok =
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (v.type === 'number' || Number.isInteger(value)) &&
        (v.min === undefined || value >= v.min) &&
        (v.max === undefined || value <= v.max);
      return ok ? null : describeType(v);
    }
  }
}

/**
 * The template's variables with `context` applied. Only declared variables may be set, each with a
 * value of exactly its type (no coercion: `"4"` is not an integer): anything else is
 * CoreError(VALIDATION) with one detail per field.
 */
export function resolveTemplateContext(
  template: TemplateInfo,
  context: Record<string, unknown> | undefined,
): Record<string, TemplateValue> {
  const values: Record<string, TemplateValue> = {};
  for (const v of template.variables) values[v.name] = v.default;
  if (context === undefined || context === null) return values;
  if (typeof context !== 'object' || Array.isArray(context)) {
    throw new CoreError(ErrorCode.VALIDATION, 'template_context must be an object', [
      { field: 'template_context', message: 'must be an object' },
    ]);
  }
  const details: { field: string; message: string }[] = [];
  for (const [key, value] of Object.entries(context)) {
    const v = template.variables.find((x) => x.name === key);
    if (!v) {
      details.push({
        field: `template_context.${key}`,
        message: `unknown variable for template ${template.name}; it declares ${template.variables.map((x) => x.name).join(', ')}`,
      });
      continue;
    }
    const problem = checkValue(v, value);
    if (problem) details.push({ field: `template_context.${key}`, message: `must be ${problem}` });
    else values[key] = value as TemplateValue;
  }
  if (details.length > 0) {
    throw new CoreError(
      ErrorCode.VALIDATION,
      `invalid template_context: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}`,
      details,
    );
  }
  return values;
}

/**
 * Any value as a JS literal that is safe anywhere in generated TypeScript: inside code, a string or a
 * comment. JSON.stringify makes strings, numbers, booleans, null, arrays and plain objects; on top of
 * that `<`, `>`, U+2028/U+2029 and star-slash (which can only occur inside strings) are escaped, so a value
 * cannot end a comment, a line comment or an HTML script block either.
 */
export function jsLiteral(value: unknown): string {
  if (value === undefined)
    throw new CoreError(ErrorCode.INTERNAL, 'template interpolated an undefined value');
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new CoreError(ErrorCode.INTERNAL, `template interpolated a non-finite number (${value})`);
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new CoreError(
      ErrorCode.INTERNAL,
      `value cannot be written as a literal: ${(err as Error).message}`,
    );
  }
  if (json === undefined)
    throw new CoreError(ErrorCode.INTERNAL, `value of type ${typeof value} cannot be a literal`);
  return json
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')
    .replace(/\*\//g, '*\\/');
}

/** Where the .eta files are: beside this module, or (in a build that did not copy them) in the sources. */
export function templatesDir(): string {
  const local = join(__dirname, 'templates');
  if (existsSync(join(local, 'implementation.eta'))) return local;
  let dir = __dirname;
  for (;;) {
    const candidate = join(dir, 'libs', 'core', 'src', 'generator', 'templates');
    if (existsSync(join(candidate, 'implementation.eta'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new CoreError(ErrorCode.INTERNAL, `generator templates not found near ${__dirname}`);
}

function etaFiles(root: string, dir = root): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return etaFiles(root, path);
    return entry.endsWith('.eta') ? [relative(root, path)] : [];
  });
}

let engine: Eta | undefined;

/** The engine, with every template compiled once and registered as `@<path without .eta>`. */
export function templateEngine(): Eta {
  if (engine) return engine;
  const eta = new Eta({
    autoEscape: true,
    escapeFunction: jsLiteral,
    autoTrim: [false, 'nl'],
    cache: true,
    useWith: false,
    varName: 'it',
  });
  const root = templatesDir();
  for (const file of etaFiles(root)) {
    const name = '@' + file.slice(0, -'.eta'.length).split(sep).join('/');
    try {
      eta.loadTemplate(name, readFileSync(join(root, file), 'utf8'));
    } catch (err) {
      throw new CoreError(ErrorCode.INTERNAL, `template ${file} does not compile: ${(err as Error).message}`);
    }
  }
  engine = eta;
  return eta;
}

/** Renders one registered template (`@implementation`, `@spec`, ...). */
export function renderTemplate(name: string, data: object): string {
  try {
    return templateEngine().render(name, data);
  } catch (err) {
    if (err instanceof CoreError) throw err;
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof CoreError) throw cause;
    throw new CoreError(ErrorCode.INTERNAL, `rendering ${name} failed: ${(err as Error).message}`);
  }
}
