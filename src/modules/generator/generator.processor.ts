import { Injectable, OnModuleInit } from '@nestjs/common';
import type { RunContext } from '../../../libs/core/src/types';
import { JobRegistry } from '../../common/jobs/job-registry';
import { JobHandler, JobName } from '../../common/jobs/job.types';
import { OperationRecord } from '../../common/operations/operation.types';
import { GenerationSpec, GeneratorService } from './generator.service';

@Injectable()
export class GeneratorProcessor implements JobHandler, OnModuleInit {
  constructor(
    private readonly registry: JobRegistry,
    private readonly generator: GeneratorService,
  ) {}

  onModuleInit(): void {
    this.registry.register(JobName.GeneratorModel, this);
  }

  process(op: OperationRecord, ctx: RunContext): Promise<unknown> {
    return this.generator.generate(op.request as unknown as GenerationSpec, ctx);
  }
}
