import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { renderJUnit, TestResults } from '../../../libs/core/src/testing';
import type { RunContext } from '../../../libs/core/src/types';
import { AdmissionService } from '../../common/admission/admission.service';
import { AppConfig } from '../../common/config/app-config';
import { InjectConfig } from '../../common/config/config.module';
import { TaskThreads } from '../../common/hardware/task-threads.service';
import { ModelResolver } from '../../common/models/model-resolver.service';
import { JobName } from '../../common/jobs/job.types';
import { OperationRecord } from '../../common/operations/operation.types';
import { OperationsService } from '../../common/operations/operations.service';
import { RunTestRequestDto } from './test.dto';

@Injectable()
export class TestService {
  constructor(
    private readonly operations: OperationsService,
    private readonly threads: TaskThreads,
    private readonly models: ModelResolver,
    @InjectConfig() private readonly config: AppConfig,
    private readonly admission: AdmissionService,
  ) {}

  /** Checks the model can be found inside the allowed roots (422 otherwise), then accepts the run. */
  async start(request: RunTestRequestDto): Promise<OperationRecord> {
    this.admission.admitTest(request); // resolves the model too (422 outside the roots)
    return this.operations.start(JobName.TestRun, request.model_name, { ...request });
  }

  /** The job: resolve the model, run the core's checks in a worker thread, optionally save a report. */
  async execute(op: OperationRecord, ctx: RunContext): Promise<TestResults> {
    const request = op.request as unknown as RunTestRequestDto;
    ctx.onProgress({ progress: 0, step: 'resolving model' });
    const resolved = await this.models.resolveForRun(request.model_name, ctx);
    const tmpDir = join(this.config.dataDir, 'tmp', op.id);
    mkdirSync(tmpDir, { recursive: true });
    const results = await this.threads.run(
      'test',
      {
        model: resolved,
        request: {
          modelName: request.model_name,
          modelPath: resolved.kind === 'onnx-file' ? resolved.path : undefined,
          goldenPath: resolved.goldenPath,
          hardware: request.hardware,
          testType: request.test_type,
          batchSizes: request.batch_sizes,
          sequenceLengths: request.sequence_lengths,
          tmpDir,
        },
      },
      ctx,
    );
    if (request.save_results) {
      const dir = join(this.config.dataDir, 'test-results');
      mkdirSync(dir, { recursive: true });
      const withId = { run_id: op.id, ...results };
      writeFileSync(join(dir, `${op.id}.json`), JSON.stringify(withId, null, 2));
      writeFileSync(join(dir, `${op.id}.junit.xml`), renderJUnit(withId));
    }
    return results;
  }
}
