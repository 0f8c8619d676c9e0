import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { loadResolvedModel } from '../../../libs/core/src/models/load';
import { renderJUnit, runModelTests, TestResults } from '../../../libs/core/src/testing';
import type { RunContext } from '../../../libs/core/src/types';
import { AppConfig } from '../../common/config/app-config';
import { InjectConfig } from '../../common/config/config.module';
import { HardwareService } from '../../common/hardware/hardware.service';
import { ModelResolver } from '../../common/models/model-resolver.service';
import { JobName } from '../../common/jobs/job.types';
import { OperationRecord } from '../../common/operations/operation.types';
import { OperationsService } from '../../common/operations/operations.service';
import { RunTestRequestDto } from './test.dto';

@Injectable()
export class TestService {
  constructor(
    private readonly operations: OperationsService,
    private readonly hardware: HardwareService,
    private readonly models: ModelResolver,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** Checks the model can be found inside the allowed roots (422 otherwise), then accepts the run. */
  async start(request: RunTestRequestDto): Promise<OperationRecord> {
    this.models.accepts(request.model_name);
    return this.operations.start(JobName.TestRun, request.model_name, { ...request });
  }

  /** The job: resolve and load the model, run the core's checks, optionally save a report. */
  async execute(op: OperationRecord, ctx: RunContext): Promise<TestResults> {
    const request = op.request as unknown as RunTestRequestDto;
    ctx.onProgress({ progress: 0, step: 'resolving model' });
    const resolved = await this.models.resolveForRun(request.model_name, ctx);
    const model = await loadResolvedModel(resolved, request.model_name);
    const tmpDir = join(this.config.dataDir, 'tmp', op.id);
    mkdirSync(tmpDir, { recursive: true });
    const results = await runModelTests(
      {
        modelName: request.model_name,
        model,
        modelPath: resolved.kind === 'onnx-file' ? resolved.path : model.metadata.onnxPath,
        goldenPath: resolved.goldenPath,
        hardware: request.hardware,
        testType: request.test_type,
        batchSizes: request.batch_sizes,
        sequenceLengths: request.sequence_lengths,
        tmpDir,
      },
      { backends: this.hardware.backends() },
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
