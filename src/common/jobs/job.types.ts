/** Typed jobs: one enum of names, one payload map, one queue per suite. */
import type { Component } from '../config/app-config';
import type { BackendName, RunContext } from '../../../libs/core/src/types';
import type { OperationRecord } from '../operations/operation.types';

export enum JobName {
  TestRun = 'test.run',
  GeneratorModel = 'generator.model',
  BenchmarkRun = 'benchmark.run',
}

/**
 * Every job carries the id of its operation (the validated request is in the store) and the
 * backends it asks for, which route backend-bound work to workers that have them.
 */
export interface JobPayload {
  operationId: string;
  backends: BackendName[];
}

export interface JobPayloadMap {
  [JobName.TestRun]: JobPayload;
  [JobName.GeneratorModel]: JobPayload;
  [JobName.BenchmarkRun]: JobPayload;
}

export interface JobOf<N extends JobName = JobName> {
  name: N;
  data: JobPayloadMap[N];
}

export const JOB_QUEUE: Record<JobName, Component> = {
  [JobName.TestRun]: 'test',
  [JobName.GeneratorModel]: 'generator',
  [JobName.BenchmarkRun]: 'benchmark',
};

/**
 * Whether a job that was running when its process died may be started again from scratch (at most
 * JOB_MAX_ATTEMPTS starts in all); one that may not ends failed INTERRUPTED. Every suite may:
 * - test runs only read the model and (re)write their own report files, named by the operation id;
 * - benchmarks re-measure from scratch (figures taken on a machine that crashed are not kept);
 * - generations build into a temporary folder that is swapped in whole at the end, so a crash
 *   leaves no half-written output (a leftover temporary folder is removed at start-up), and a rerun
 *   writes the same files.
 */
export const RETRY_AFTER_CRASH: Record<JobName, boolean> = {
  [JobName.TestRun]: true,
  [JobName.BenchmarkRun]: true,
  [JobName.GeneratorModel]: true,
};

/** The job of an operation kind. */
export function jobOfKind(kind: Component): JobName {
  return jobsOf(kind)[0]!;
}

/** Jobs that must run on a worker offering every backend they ask for (measurements). */
export const BACKEND_ROUTED: ReadonlySet<JobName> = new Set([JobName.BenchmarkRun]);

/** The queue a job goes to: its suite's, or for backend-routed work, one per backend set. */
export function queueFor(name: JobName, backends: readonly BackendName[]): string {
  if (!BACKEND_ROUTED.has(name)) return JOB_QUEUE[name];
  return `${JOB_QUEUE[name]}@${backendSetKey(backends)}`;
}

export function backendSetKey(backends: readonly BackendName[]): string {
  return [...new Set(backends)].sort().join('+');
}

/** Every non-empty subset of the given backends. */
export function backendSubsets(backends: readonly BackendName[]): BackendName[][] {
  const unique = [...new Set(backends)].sort();
  const out: BackendName[][] = [];
  for (let mask = 1; mask < 1 << unique.length; mask++) out.push(unique.filter((_, i) => mask & (1 << i)));
  return out;
}

/** The queues a worker with `backends` consumes for the given suites. */
export function queuesFor(components: readonly Component[], backends: readonly BackendName[]): string[] {
  const names: string[] = [];
  for (const c of components) {
    for (const job of jobsOf(c)) {
      if (BACKEND_ROUTED.has(job)) names.push(...backendSubsets(backends).map((set) => queueFor(job, set)));
      else names.push(JOB_QUEUE[job]);
    }
  }
  return [...new Set(names)];
}

export function jobsOf(component: Component): JobName[] {
  return (Object.keys(JOB_QUEUE) as JobName[]).filter((n) => JOB_QUEUE[n] === component);
}

/** A suite's processor: one call into its core function. */
export interface JobHandler {
  /** Runs the operation; resolves with its result (stored as is). */
  process(op: OperationRecord, ctx: RunContext): Promise<unknown>;
  /** Devices the operation needs to itself (benchmarks: one at a time per device). */
  exclusiveDevices?(op: OperationRecord): string[];
}
