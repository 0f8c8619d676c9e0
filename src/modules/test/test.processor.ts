import { Injectable, OnModuleInit } from '@nestjs/common';
import { THREAD_UNSAFE_BACKENDS } from '../../../libs/core/src/backends';
import type { BackendName, RunContext } from '../../../libs/core/src/types';
import { JobRegistry } from '../../common/jobs/job-registry';
import { JobHandler, JobName } from '../../common/jobs/job.types';
import { OperationRecord } from '../../common/operations/operation.types';
import { TestService } from './test.service';

@Injectable()
export class TestProcessor implements JobHandler, OnModuleInit {
  constructor(
    private readonly registry: JobRegistry,
    private readonly tests: TestService,
  ) {}

  onModuleInit(): void {
    this.registry.register(JobName.TestRun, this);
  }

  /** Test runs execute in worker threads; those on a thread-unsafe backend take turns with every other job on it. */
  exclusiveDevices(op: OperationRecord): string[] {
    return (op.request.hardware as BackendName[])
      .filter((b) => THREAD_UNSAFE_BACKENDS.includes(b))
      .map((b) => `device:${b}`);
  }

  process(op: OperationRecord, ctx: RunContext): Promise<unknown> {
    return this.tests.execute(op, ctx);
  }
}
