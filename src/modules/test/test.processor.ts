import { Injectable, OnModuleInit } from '@nestjs/common';
import type { RunContext } from '../../../libs/core/src/types';
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

  process(op: OperationRecord, ctx: RunContext): Promise<unknown> {
    return this.tests.execute(op, ctx);
  }
}
