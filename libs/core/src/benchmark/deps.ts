/** The default composition of a benchmark's dependencies: models from references, onnxruntime backends. */
import { createBackends, type OrtBackendOptions } from '../backends';
import { loadImplementation } from '../models/load';
import type { BackendName } from '../types';
import type { BenchmarkDeps } from './runner';

export interface DefaultDepsOptions {
  /** Repository whose HEAD commit is recorded with the result. */
  repoDir?: string;
  /** Options of the onnxruntime backends (threads, detection timeout, ...); plain data. */
  backendOptions?: OrtBackendOptions;
}

/** A model reference loaded with loadImplementation (in whichever thread runs the benchmark). */
export const loadModelRef: BenchmarkDeps['loadModel'] = (ref) =>
  loadImplementation({ kind: ref.kind, path: ref.path });

/** loadImplementation for the models, createBackends for the requested backend names. */
export function createDefaultDeps(
  hardware: readonly BackendName[],
  options: DefaultDepsOptions = {},
): BenchmarkDeps {
  return {
    loadModel: loadModelRef,
    backends: createBackends([...new Set(hardware)], options.backendOptions ?? {}),
    repoDir: options.repoDir,
  };
}
