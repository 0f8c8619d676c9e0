import { Injectable, OnModuleInit } from '@nestjs/common';
import type { RunContext } from '../../../libs/core/src/types';
import { JobRegistry } from '../../common/jobs/job-registry';
import { JobHandler, JobName } from '../../common/jobs/job.types';
import { OperationRecord } from '../../common/operations/operation.types';
import { BenchmarkService } from './benchmark.service';

@Injectable()
export class BenchmarkProcessor implements JobHandler, OnModuleInit {
  constructor(
    private readonly registry: JobRegistry,
    private readonly benchmarks: BenchmarkService,
  ) {}

  onModuleInit(): void {
    this.registry.register(JobName.BenchmarkRun, this);
  }

  /** Measurements run one at a time per device. */
  exclusiveDevices(op: OperationRecord): string[] {
    return (op.request.hardware as string[]).map((b) => `device:${b}`);
  }

  process(op: OperationRecord, ctx: RunContext): Promise<unknown> {
    return this.benchmarks.execute(op, ctx);
  }
}
