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
import {
  CancelResponseDto,
  ListOperationsQueryDto,
  OperationListDto,
  OperationStatusDto,
} from '../../common/operations/operation.dto';
import { toStatusView } from '../../common/operations/operation.types';
import { OperationsService } from '../../common/operations/operations.service';
import {
  BenchmarkResultsDto,
  BenchmarkResultsQueryDto,
  BenchmarkRunsDto,
  BenchmarkRunsQueryDto,
  CompareQueryDto,
  ComparisonDto,
  EnvironmentBackendDto,
  RunBenchmarkAcceptedDto,
  RunBenchmarkRequestDto,
} from './benchmark.dto';
import { BenchmarkService } from './benchmark.service';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import * as EX from '../../docs/examples';

const CONTENT_TYPES = {
  csv: 'text/csv; charset=utf-8',
  markdown: 'text/markdown; charset=utf-8',
  junit: 'application/xml; charset=utf-8',
} as const;

@ApiTags('benchmark')
// EnvironmentDto.backends refers to it by $ref from an additionalProperties map, which Swagger does
// not follow on its own: registered here so the reference resolves.
@ApiExtraModels(EnvironmentBackendDto)
@Controller('api/benchmark')
export class BenchmarkController {
  constructor(
    private readonly benchmarks: BenchmarkService,
    private readonly operations: OperationsService,
  ) {}

  /** Start a benchmark run (one model or several, every backend x batch x sequence); stored before this answers. */
  @Post('run')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: RunBenchmarkAcceptedDto, example: EX.RUN_BENCHMARK_ACCEPTED })
  @ApiBody({
    type: RunBenchmarkRequestDto,
    examples: {
      one: {
        summary: 'One model on CPU, two batch sizes, five rounds',
        value: {
          model_name: 'prajjwal1/bert-tiny',
          hardware: ['cpu'],
          batch_sizes: [1, 8],
          sequence_lengths: [128],
          rounds: 5,
        },
      },
      paired: {
        summary: 'Two models measured side by side round by round (paired ratio)',
        value: {
          models: ['prajjwal1/bert-tiny', 'prajjwal1/bert-mini'],
          hardware: ['cpu'],
          batch_sizes: [1],
          sequence_lengths: [128],
        },
      },
    },
  })
  @ApiErrors(400, 401, 404, 413, 422, 429, 503)
  async run(@Body() body: RunBenchmarkRequestDto): Promise<RunBenchmarkAcceptedDto> {
    const { op, configurations } = await this.benchmarks.start(body);
    return {
      run_id: op.id,
      status: op.status,
      message: `benchmark accepted: ${configurations} configuration(s)`,
      started_at: op.created_at,
      configurations,
    };
  }

  /** The lifecycle status of a benchmark run. */
  @Get('status/:run_id')
  @ApiOkResponse({ type: OperationStatusDto, example: EX.BENCHMARK_STATUS })
  @ApiErrors(401, 404, 503)
  async status(@Param('run_id') id: string): Promise<OperationStatusDto> {
    return toStatusView(await this.operations.get('benchmark', id));
  }

  /** `latency_ms` and `throughput` at the top level, the full matrix below; `?format=csv|markdown|junit|json`. */
  @Get('results/:run_id')
  @ApiOkResponse({ type: BenchmarkResultsDto, example: EX.BENCHMARK_RESULTS })
  @ApiProduces('application/json', 'text/csv', 'text/markdown', 'application/xml')
  @ApiErrors(400, 401, 404, 409, 503)
  async results(
    @Param('run_id') id: string,
    @Query() query: BenchmarkResultsQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<BenchmarkResultsDto | string> {
    const format = query.format ?? 'json';
    if (format !== 'json') void reply.header('content-type', CONTENT_TYPES[format]);
    return this.benchmarks.results(id, format);
  }

  /** Measured configurations of past runs (one row per configuration), filtered, for history charts. */
  @Get('runs')
  @ApiOkResponse({ type: BenchmarkRunsDto, example: EX.BENCHMARK_RUNS })
  @ApiErrors(400, 401, 503)
  async runs(@Query() query: BenchmarkRunsQueryDto): Promise<BenchmarkRunsDto> {
    return { items: await this.benchmarks.runs(query) };
  }

  /** The benchmark runs themselves (one item per run, with its status), newest first, cursor-paged. */
  @Get('operations')
  @ApiOkResponse({ type: OperationListDto, example: EX.BENCHMARK_OPERATIONS })
  @ApiErrors(400, 401, 503)
  async operationsList(@Query() query: ListOperationsQueryDto): Promise<OperationListDto> {
    const page = await this.operations.list('benchmark', query);
    return { items: page.items.map((op) => toStatusView(op)), next_cursor: page.next_cursor };
  }

  /** Baseline vs candidate per configuration; `?format=markdown|junit` renders it for CI. */
  @Get('compare')
  @ApiOkResponse({ type: ComparisonDto, example: EX.COMPARISON })
  @ApiProduces('application/json', 'text/markdown', 'application/xml')
  @ApiErrors(400, 401, 404, 409, 503)
  compare(
    @Query() query: CompareQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ComparisonDto | string> {
    if (query.format && query.format !== 'json')
      void reply.header('content-type', CONTENT_TYPES[query.format]);
    return this.benchmarks.compareRendered(query);
  }

  /** Cancel a benchmark run (`cancelled: false` when it had already ended). */
  @Post('cancel/:run_id')
  @HttpCode(200)
  @ApiOkResponse({ type: CancelResponseDto, example: EX.BENCHMARK_CANCELLED })
  @ApiErrors(401, 404, 503)
  async cancel(@Param('run_id') id: string): Promise<CancelResponseDto> {
    const { cancelled, op } = await this.operations.cancel('benchmark', id);
    return { cancelled, status: toStatusView(op) };
  }
}
