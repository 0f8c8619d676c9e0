/** Typed jobs: one enum of names, one payload map, one queue per suite. */
import type { Component } from '../config/app-config';
import type { RunContext } from '../../../libs/core/src/types';
import type { OperationRecord } from '../operations/operation.types';

export enum JobName {
  TestRun = 'test.run',
  GeneratorModel = 'generator.model',
  BenchmarkRun = 'benchmark.run',
}

/** Every job carries only the id of its operation; the validated request is in the store. */
export interface JobPayloadMap {
  [JobName.TestRun]: { operationId: string };
  [JobName.GeneratorModel]: { operationId: string };
  [JobName.BenchmarkRun]: { operationId: string };
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
