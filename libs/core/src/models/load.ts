/**
 * A model reference to a ModelImplementation: the generic one for a plain .onnx file, or a
 * compiled implementation module (what the generator writes).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CoreError, ErrorCode, errorMessage } from '../errors';
import { loadGeneratedModule } from '../generator/loader';
import type { BackendName, ModelImplementation } from '../types';
import { OnnxFileModel, type OnnxFileOptions } from './onnx-file';
import type { ResolvedModelPath } from './paths';

export type ModelRef =
  | { kind: 'onnx-file'; path: string }
  /** A compiled JS module exporting metadata, load and makeInputs (or a default export that does). */
  | { kind: 'module'; path: string };

function isImplementation(v: unknown): v is ModelImplementation {
  if (!v || (typeof v !== 'object' && typeof v !== 'function')) return false;
  const o = v as Record<string, unknown>;
  const md = o.metadata as Record<string, unknown> | undefined;
  return (
    typeof o.load === 'function' &&
    typeof o.makeInputs === 'function' &&
    !!md &&
    typeof md === 'object' &&
    Array.isArray(md.inputs) &&
    Array.isArray(md.outputs)
  );
}

/** What a module exports, as a ModelImplementation; methods keep their `this`. */
export function implementationFromModule(mod: unknown, path: string): ModelImplementation {
  const candidates = [mod, (mod as { default?: unknown } | undefined)?.default];
  for (const c of candidates) {
    if (isImplementation(c)) {
      const impl = c;
      const container = (mod ?? {}) as { SUPPORTED_BACKENDS?: unknown };
      const supported = Array.isArray(container.SUPPORTED_BACKENDS)
        ? (container.SUPPORTED_BACKENDS.filter((b) => typeof b === 'string') as BackendName[])
        : undefined;
      return {
        metadata: impl.metadata,
        ...(supported ? { supportedBackends: supported } : {}),
        load: (options) => impl.load(options),
        makeInputs: (options) => impl.makeInputs(options),
      };
    }
  }
  const keys = mod && typeof mod === 'object' ? Object.keys(mod).join(', ') || 'nothing' : typeof mod;
  throw new CoreError(
    ErrorCode.INVALID_MODEL,
    `${path} is not a model implementation: it must export metadata (with inputs and outputs), load() and makeInputs() ` +
      `directly or as its default export (it exports: ${keys})`,
  );
}

/**
 * @throws CoreError MODEL_NOT_FOUND / INVALID_MODEL (the file cannot be loaded or is not an implementation).
 */
export async function loadImplementation(
  ref: ModelRef,
  options: OnnxFileOptions = {},
): Promise<ModelImplementation> {
  if (ref.kind === 'onnx-file') return OnnxFileModel.open(ref.path, options);
  // A compiled generated module gets this process's onnxruntime-node and tokenizer packages wherever
  // it lies (DATA_DIR has no node_modules); anything else it requires resolves from its own folder.
  if (/\.c?js$/.test(ref.path) && existsSync(join(dirname(ref.path), 'manifest.json'))) {
    try {
      return implementationFromModule(loadGeneratedModule(ref.path).exports, ref.path);
    } catch (err) {
      if (err instanceof CoreError) throw err;
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `cannot load implementation module ${ref.path}: ${errorMessage(err)}`,
      );
    }
  }
  const req = createRequire(__filename);
  let resolved: string;
  try {
    resolved = req.resolve(ref.path);
  } catch {
    throw new CoreError(ErrorCode.MODEL_NOT_FOUND, `implementation module not found: ${ref.path}`);
  }
  // A regenerated module at the same path must be read again, not served from the cache.
  delete req.cache[resolved];
  let mod: unknown;
  try {
    mod = req(resolved);
  } catch (err) {
    throw new CoreError(
      ErrorCode.INVALID_MODEL,
      `cannot load implementation module ${ref.path}: ${errorMessage(err)}`,
    );
  }
  return implementationFromModule(mod, ref.path);
}

/** loadImplementation for what resolveModelPath found (its config and tokenizer go along). */
export function loadResolvedModel(resolved: ResolvedModelPath, id?: string): Promise<ModelImplementation> {
  return loadImplementation(
    { kind: resolved.kind, path: resolved.path },
    { id, configPath: resolved.configPath ?? null, tokenizerPath: resolved.tokenizerPath ?? null },
  );
}
