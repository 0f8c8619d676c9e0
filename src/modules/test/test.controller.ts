import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiExtraModels,
  ApiOkResponse,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { renderJUnit, TEST_TYPE_DESCRIPTIONS, TEST_TYPES, TestResults } from '../../../libs/core/src/testing';
import {
  CancelResponseDto,
  ListOperationsQueryDto,
  OperationStatusDto,
} from '../../common/operations/operation.dto';
import { toStatusView } from '../../common/operations/operation.types';
import { OperationsService } from '../../common/operations/operations.service';
import {
  BackendPerformanceDto,
  ResultsFormatQueryDto,
  RunTestAcceptedDto,
  RunTestRequestDto,
  TestResultsDto,
  TestRunListDto,
  TestTypeDto,
  toAccepted,
  toTestResults,
} from './test.dto';
import { TestService } from './test.service';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import * as EX from '../../docs/examples';

@ApiTags('test')
// performance_metrics refers to it by $ref from an additionalProperties map, which Swagger does not
// follow on its own: registered here so the reference resolves.
@ApiExtraModels(BackendPerformanceDto)
@Controller('api/test')
export class TestController {
  constructor(
    private readonly tests: TestService,
    private readonly operations: OperationsService,
  ) {}

  /** Start a test run; it is stored before this answers. */
  @Post('run')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: RunTestAcceptedDto, example: EX.RUN_TEST_ACCEPTED })
  @ApiBody({
    type: RunTestRequestDto,
    examples: {
      basic: {
        summary: 'A basic test of a small registry model on CPU (generated on demand)',
        value: { model_name: 'prajjwal1/bert-tiny', hardware: ['cpu'], test_type: 'basic' },
      },
      generation: {
        summary:
          'Generate 16 tokens greedily from token ids with distilgpt2 (random weights, built on demand)',
        value: {
          model_name: 'distilgpt2',
          hardware: ['cpu'],
          test_type: 'generation',
          generation: { input_ids: [[464, 2068, 7586]], max_new_tokens: 16 },
        },
      },
    },
  })
  @ApiErrors(400, 401, 413, 422, 429, 503)
  async run(@Body() body: RunTestRequestDto): Promise<RunTestAcceptedDto> {
    return toAccepted(await this.tests.start(body));
  }

  /** The lifecycle status of a test run. */
  @Get('status/:run_id')
  @ApiOkResponse({ type: OperationStatusDto, example: EX.TEST_STATUS })
  @ApiErrors(401, 404, 503)
  async status(@Param('run_id') id: string): Promise<OperationStatusDto> {
    return toStatusView(await this.operations.get('test', id));
  }

  /** Results (409 while not finished); `?format=junit` gives JUnit XML. */
  @Get('results/:run_id')
  @ApiOkResponse({ type: TestResultsDto, example: EX.TEST_RESULTS })
  @ApiProduces('application/json', 'application/xml')
  @ApiErrors(400, 401, 404, 409, 503)
  async results(
    @Param('run_id') id: string,
    @Query() query: ResultsFormatQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<TestResultsDto | string> {
    const { op, result } = await this.operations.result('test', id);
    const body = toTestResults(op, result);
    if (query.format === 'junit') {
      void reply.header('content-type', 'application/xml; charset=utf-8');
      return renderJUnit(body as TestResults & { run_id: string });
    }
    return body;
  }

  /** Test runs, newest first, filtered and cursor-paged. */
  @Get('runs')
  @ApiOkResponse({ type: TestRunListDto, example: EX.TEST_RUNS })
  @ApiErrors(400, 401, 503)
  async runs(@Query() query: ListOperationsQueryDto): Promise<TestRunListDto> {
    const page = await this.operations.list('test', query);
    return { items: page.items.map((op) => toStatusView(op)), next_cursor: page.next_cursor };
  }

  /** Cancel a test run (`cancelled: false` when it had already ended). */
  @Post('cancel/:run_id')
  @HttpCode(200)
  @ApiOkResponse({ type: CancelResponseDto, example: EX.TEST_CANCELLED })
  @ApiErrors(401, 404, 503)
  async cancel(@Param('run_id') id: string): Promise<CancelResponseDto> {
    const { cancelled, op } = await this.operations.cancel('test', id);
    return { cancelled, status: toStatusView(op) };
  }

  /** The test types and what each checks. */
  @Get('types')
  @ApiOkResponse({ type: TestTypeDto, isArray: true, example: EX.TEST_TYPES_EXAMPLE })
  @ApiErrors(401)
  types(): TestTypeDto[] {
    return TEST_TYPES.map((name) => ({ name, description: TEST_TYPE_DESCRIPTIONS[name] }));
  }
}
