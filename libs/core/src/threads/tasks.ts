/**
 * The work the thread pool runs, by kind: each takes plain data (so it can cross to a worker
 * thread) and a RunContext, and resolves with plain data.
 */
import { createBackends, type OrtBackendOptions } from '../backends';
import { loadModelRef } from '../benchmark/deps';
import { runBenchmark } from '../benchmark/runner';
import type { BenchmarkRequest, BenchmarkResult } from '../benchmark/types';
import { runGenerationPipeline, type PipelineOptions, type PipelineResult } from '../generator/pipeline';
import { loadResolvedModel } from '../models/load';
import type { ResolvedModelPath } from '../models/paths';
import { runModelTests } from '../testing/run-tests';
import type { TestRequest, TestResults } from '../testing/types';
import type { BackendName, HardwareBackend, RunContext } from '../types';

/** A test run: the model by its resolved path (loaded where the run happens), the rest of the request. */
export interface TestTask {
  model: ResolvedModelPath;
  request: Omit<TestRequest, 'model'>;
}

/** A benchmark: the request (models by reference) and the repository whose commit is recorded. */
export interface BenchmarkTask {
  request: BenchmarkRequest;
  repoDir?: string;
}

export interface Tasks {
  test: { input: TestTask; result: TestResults };
  generate: { input: PipelineOptions; result: PipelineResult };
  benchmark: { input: BenchmarkTask; result: BenchmarkResult };
}

/** What each kind is called in messages. */
export const TASK_NAMES: Record<TaskKind, string> = {
  test: 'test run',
  generate: 'generation',
  benchmark: 'benchmark',
};
export type TaskKind = keyof Tasks;

/** What a task gets from where it runs: the backends, built once per thread (so detection is cached there). */
export interface TaskEnvironment {
  backends(): Map<BackendName, HardwareBackend>;
}

/** A worker thread's environment: onnxruntime backends rebuilt from their names and options. */
export function threadEnvironment(
  hardware: readonly BackendName[],
  backendOptions: OrtBackendOptions = {},
): TaskEnvironment {
  let built: Map<BackendName, HardwareBackend> | undefined;
  return { backends: () => (built ??= createBackends(hardware, backendOptions)) };
}

export async function runTask<K extends TaskKind>(
  kind: K,
  input: Tasks[K]['input'],
  env: TaskEnvironment,
  ctx: RunContext,
): Promise<Tasks[K]['result']> {
  switch (kind) {
    case 'test': {
      const { model, request } = input as TestTask;
      const loaded = await loadResolvedModel(model, request.modelName);
      return (await runModelTests(
        { ...request, model: loaded },
        { backends: env.backends() },
        ctx,
      )) as Tasks[K]['result'];
    }
    case 'generate':
      return (await runGenerationPipeline(input as PipelineOptions, ctx)) as Tasks[K]['result'];
    case 'benchmark': {
      const { request, repoDir } = input as BenchmarkTask;
      const deps = { loadModel: loadModelRef, backends: env.backends(), repoDir };
      return (await runBenchmark(request, deps, ctx)) as Tasks[K]['result'];
    }
    default:
      throw new Error(`unknown task kind ${String(kind)}`);
  }
}
