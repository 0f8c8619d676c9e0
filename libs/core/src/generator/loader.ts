/**
 * Loads a compiled generated implementation (`<slug>.js`) from any folder and checks its shape.
 *
 * Decision: the loader evaluates the module itself with a `require` that hands it this process's own
 * instances of onnxruntime-node, @huggingface/tokenizers and @huggingface/jinja (and node built-ins), and resolves
 * anything else from the module's folder. So:
 *  - a module in DATA_DIR, far from any node_modules, still finds its packages;
 *  - it shares one onnxruntime with the caller, so tensors made by the caller and by the module are
 *    the same `Tensor` class, and the native binding is loaded once;
 *  - under Jest the module runs inside the test's module registry and realm (typed arrays included).
 * The module stays a plain CommonJS file: copied next to a node_modules that has the packages,
 * `require('./<slug>.js')` works without this loader.
 */
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CoreError, ErrorCode } from '../errors';
import type { BackendName, ModelImplementation } from '../types';

/** Packages a generated module may use, handed over from this process. */
const SHARED_PACKAGES: Record<string, () => unknown> = {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  'onnxruntime-node': () => require('onnxruntime-node'),
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  '@huggingface/tokenizers': () => require('@huggingface/tokenizers'),
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  '@huggingface/jinja': () => require('@huggingface/jinja'),
};

const BUILTINS = new Set(builtinModules);

function isBuiltin(request: string): boolean {
  return request.startsWith('node:') || BUILTINS.has(request);
}

/** What a generated module may export, checked before it is used. */
export interface GeneratedModule {
  implementation: ModelImplementation;
  /** The raw exports (run, release, encode, TEMPLATE, SUPPORTED_BACKENDS, ...). */
  exports: Record<string, unknown>;
}

function invalid(jsPath: string, why: string): CoreError {
  return new CoreError(ErrorCode.INVALID_MODEL, `${jsPath} is not a generated model implementation: ${why}`);
}

function checkSpecs(jsPath: string, what: string, value: unknown): void {
  if (!Array.isArray(value) || value.length === 0)
    throw invalid(jsPath, `metadata.${what} is not a list of tensors`);
  for (const spec of value as Record<string, unknown>[]) {
    if (typeof spec?.name !== 'string' || typeof spec.dtype !== 'string' || !Array.isArray(spec.shape)) {
      throw invalid(jsPath, `metadata.${what} has an invalid tensor spec ${JSON.stringify(spec)}`);
    }
  }
}

/** Validates that `exports` satisfies ModelImplementation (metadata, load, makeInputs). */
export function checkImplementation(jsPath: string, exports: Record<string, unknown>): ModelImplementation {
  const candidate = (exports.default ?? exports) as Record<string, unknown>;
  const metadata = candidate.metadata as Record<string, unknown> | undefined;
  if (typeof metadata !== 'object' || metadata === null) throw invalid(jsPath, 'no metadata');
  if (typeof metadata.id !== 'string') throw invalid(jsPath, 'metadata.id is not a string');
  if (typeof metadata.family !== 'string') throw invalid(jsPath, 'metadata.family is not a string');
  checkSpecs(jsPath, 'inputs', metadata.inputs);
  checkSpecs(jsPath, 'outputs', metadata.outputs);
  if (typeof candidate.load !== 'function') throw invalid(jsPath, 'load is not a function');
  if (typeof candidate.makeInputs !== 'function') throw invalid(jsPath, 'makeInputs is not a function');
  const impl = candidate as unknown as ModelImplementation;
  const supported = exports.SUPPORTED_BACKENDS;
  if (!Array.isArray(supported)) return impl;
  // The default export with the backends the module was written for; methods keep their `this`.
  return {
    metadata: impl.metadata,
    supportedBackends: supported.filter((b): b is BackendName => typeof b === 'string'),
    load: (options) => impl.load(options),
    makeInputs: (options) => impl.makeInputs(options),
  };
}

/** Evaluates a generated CommonJS module (see the file comment) and returns its exports. */
export function loadGeneratedModule(jsPath: string): GeneratedModule {
  const file = resolve(jsPath);
  if (!existsSync(file)) throw new CoreError(ErrorCode.NOT_FOUND, `${file} does not exist`);
  const source = readFileSync(file, 'utf8');
  const localRequire = createRequire(file);
  const moduleRequire = (request: string): unknown => {
    const shared = SHARED_PACKAGES[request];
    if (shared) return shared();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (isBuiltin(request)) return require(request);
    if (request.startsWith('.') || isAbsolute(request)) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(resolve(dirname(file), request));
    }
    return localRequire(request);
  };
  const module = { exports: {} as Record<string, unknown> };
  let factory: (...args: unknown[]) => void;
  try {
    // new Function (not vm) so the module runs in the caller's realm: under Jest that is the test's.
    factory = new Function(
      'exports',
      'require',
      'module',
      '__filename',
      '__dirname',
      `${source}\n//# sourceURL=${pathToFileURL(file).href}`,
    ) as (...args: unknown[]) => void;
  } catch (err) {
    throw invalid(file, `it does not parse: ${(err as Error).message}`);
  }
  try {
    factory(module.exports, moduleRequire, module, file, dirname(file));
  } catch (err) {
    throw invalid(file, `it failed while loading: ${(err as Error).message}`);
  }
  return { implementation: checkImplementation(file, module.exports), exports: module.exports };
}

/** Requires a compiled generated implementation from any folder and checks it is a ModelImplementation. */
export function loadGeneratedImplementation(jsPath: string): ModelImplementation {
  return loadGeneratedModule(jsPath).implementation;
}
