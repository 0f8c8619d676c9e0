import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import type { ResolvedModelPath } from '../../../libs/core/src/models/paths';
import {
  mkdirConfined,
  removeConfined,
  tempSibling,
  writeFileConfined,
} from '../../../libs/core/src/models/write-paths';
import { renderJUnit, TestResults, toleranceFor } from '../../../libs/core/src/testing';
import type { RunContext } from '../../../libs/core/src/types';
import { BudgetService } from '../../common/admission/budget.service';
import { AppConfig } from '../../common/config/app-config';
import { InjectConfig } from '../../common/config/config.module';
import { TaskThreads } from '../../common/hardware/task-threads.service';
import { ModelResolver } from '../../common/models/model-resolver.service';
import { JobName } from '../../common/jobs/job.types';
import { OperationRecord } from '../../common/operations/operation.types';
import { AdmissionService } from '../../common/operations/admission.service';
import { OperationsService } from '../../common/operations/operations.service';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import type { GenerationTestRequest } from '../../../libs/core/src/testing/types';
import { GenerationRequestDto, RunTestRequestDto, TEST_DEFAULT_TIMEOUT_S } from './test.dto';

/** `generation` goes with test_type generation, and then gives exactly one prompt (400 otherwise). */
function checkGeneration(request: RunTestRequestDto): void {
  const g = request.generation;
  if (request.test_type !== 'generation') {
    if (g !== undefined) throw validation('generation', 'generation is only for test_type generation');
    return;
  }
  const given = g ? (['prompt', 'messages', 'input_ids'] as const).filter((k) => g[k] !== undefined) : [];
  const rows = g?.input_ids ?? [];
  if (rows.some((row) => row.some((id) => typeof id !== 'number' || !Number.isInteger(id) || id < 0))) {
    throw validation('generation.input_ids', 'generation.input_ids must hold non-negative integers');
  }
  if (given.length !== 1) {
    throw validation(
      'generation',
      'test_type generation needs exactly one of generation.prompt, generation.messages and generation.input_ids' +
        (given.length ? ` (got ${given.join(', ')})` : ''),
    );
  }
}

function validation(field: string, message: string): CoreError {
  return new CoreError(ErrorCode.VALIDATION, message, [{ field, message }]);
}

function toGenerationRequest(g: GenerationRequestDto): GenerationTestRequest {
  return {
    prompt: g.prompt,
    messages: g.messages?.map((m) => ({ role: m.role, content: m.content })),
    inputIds: g.input_ids,
    maxNewTokens: g.max_new_tokens,
    doSample: g.do_sample,
    temperature: g.temperature,
    topK: g.top_k,
    topP: g.top_p,
    seed: g.seed,
  };
}

@Injectable()
export class TestService {
  constructor(
    private readonly operations: OperationsService,
    private readonly threads: TaskThreads,
    private readonly models: ModelResolver,
    private readonly admission: AdmissionService,
    private readonly budgets: BudgetService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Checks the model can be found inside the allowed roots (422 otherwise) and that at least one of
   * the backends is available (422 when none is; the others are `skipped` in the results), then
   * accepts the run with its deadline.
   */
  async start(request: RunTestRequestDto): Promise<OperationRecord> {
    checkGeneration(request);
    const timeout = this.admission.timeout(request.timeout, TEST_DEFAULT_TIMEOUT_S);
    this.budgets.admitTest(request); // resolves the model too (422 outside the roots)
    this.models.checkPrecision(request.model_name, request.precision);
    await this.admission.requireBackends('test', request.hardware, 'any');
    return this.operations.start(JobName.TestRun, request.model_name, { ...request, timeout });
  }

  /** The job: resolve the model, run the core's checks in a worker thread, optionally save a report. */
  async execute(op: OperationRecord, ctx: RunContext): Promise<TestResults> {
    const request = op.request as unknown as RunTestRequestDto;
    ctx.onProgress({ progress: 0, step: 'resolving model' });
    return this.models.withModel(
      request.model_name,
      ctx,
      (resolved, precision, graph) =>
        this.runTests(op, ctx, resolved, precision ?? request.precision ?? 'unknown', graph ?? 'unknown'),
      request.precision,
    );
  }

  private async runTests(
    op: OperationRecord,
    ctx: RunContext,
    resolved: ResolvedModelPath,
    precision: string,
    graph: string,
  ): Promise<TestResults> {
    const request = op.request as unknown as RunTestRequestDto;
    const root = this.config.dataDir;
    // Scratch files of this run (truncated model copies), removed when it ends; named so that a
    // later process can tell a crashed run's folder from a live one (DataDirJanitor).
    const tmpDir = mkdirConfined(root, tempSibling(join(root, 'tmp', op.id)));
    let results: TestResults;
    try {
      results = await this.threads.run(
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
            ...(request.generation ? { generation: toGenerationRequest(request.generation) } : {}),
            tolerance: toleranceFor(precision),
            tmpDir,
          },
        },
        ctx,
      );
    } finally {
      removeConfined(root, tmpDir);
    }
    results = { ...results, precision, graph };
    if (request.save_results) {
      const dir = join(root, 'test-results');
      const withId = { run_id: op.id, ...results };
      writeFileConfined(root, join(dir, `${op.id}.json`), JSON.stringify(withId, null, 2));
      writeFileConfined(root, join(dir, `${op.id}.junit.xml`), renderJUnit(withId));
    }
    return results;
  }
}
