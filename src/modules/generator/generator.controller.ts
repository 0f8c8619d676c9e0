import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { listTemplates } from '../../../libs/core/src/generator';
import { listModels } from '../../../libs/core/src/models/registry';
import {
  CancelResponseDto,
  ListOperationsQueryDto,
  OperationStatusDto,
} from '../../common/operations/operation.dto';
import { OperationRecord, toStatusView } from '../../common/operations/operation.types';
import { OperationsService } from '../../common/operations/operations.service';
import {
  BatchGenerateAcceptedDto,
  BatchGenerateRequestDto,
  GenerateAcceptedDto,
  GenerateModelRequestDto,
  GenerationListDto,
  GenerationResultsDto,
  ModelListingDto,
  TemplateDto,
} from './generator.dto';
import { GeneratorService } from './generator.service';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import * as EX from '../../docs/examples';

function accepted(op: OperationRecord, outDir: string): GenerateAcceptedDto {
  return {
    task_id: op.id,
    status: op.status,
    message: `generation of ${op.model_name} accepted`,
    started_at: op.created_at,
    model_name: op.model_name,
    output_dir: outDir,
  };
}

@ApiTags('generator')
@Controller('api')
export class GeneratorController {
  constructor(
    private readonly generator: GeneratorService,
    private readonly operations: OperationsService,
  ) {}

  /** Known models: id, family, parameter count computed from the config, fp32 size. */
  @Get('models')
  @ApiOkResponse({ type: ModelListingDto, isArray: true, example: EX.MODELS })
  @ApiErrors(401)
  models(): ModelListingDto[] {
    return listModels();
  }

  /** The generator's templates: family, backends covered and variables. */
  @Get('generator/templates')
  @ApiOkResponse({ type: TemplateDto, isArray: true, example: EX.TEMPLATES })
  @ApiErrors(401)
  templates(): TemplateDto[] {
    return listTemplates() as unknown as TemplateDto[];
  }

  /** Start generating a model implementation; it is stored before this answers. */
  @Post('generator/model')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: GenerateAcceptedDto, example: EX.GENERATE_ACCEPTED })
  @ApiBody({
    type: GenerateModelRequestDto,
    examples: {
      random: {
        summary: 'A small registry model with seeded random weights, for CPU and WebGPU',
        value: {
          model_name: 'prajjwal1/bert-tiny',
          hardware: ['cpu', 'webgpu'],
          weights: 'random',
          force: true,
        },
      },
    },
  })
  @ApiErrors(400, 401, 409, 413, 422, 429, 503)
  async generate(@Body() body: GenerateModelRequestDto): Promise<GenerateAcceptedDto> {
    const { op, outDir } = await this.generator.start(body);
    return accepted(op, outDir);
  }

  /** Start several generations at once, one task each. */
  @Post('generator/batch')
  @HttpCode(202)
  @ApiAcceptedResponse({ type: BatchGenerateAcceptedDto, example: EX.BATCH_ACCEPTED })
  @ApiBody({
    type: BatchGenerateRequestDto,
    examples: {
      two: {
        summary: 'Two small registry models at once',
        value: {
          models: [
            { model_name: 'prajjwal1/bert-mini', hardware: ['cpu'], force: true },
            { model_name: 'google/electra-small-discriminator', hardware: ['cpu'], force: true },
          ],
        },
      },
    },
  })
  @ApiErrors(400, 401, 409, 413, 422, 429, 503)
  async batch(@Body() body: BatchGenerateRequestDto): Promise<BatchGenerateAcceptedDto> {
    return {
      tasks: (await this.generator.startBatch(body.models)).map(({ op, outDir }) => accepted(op, outDir)),
    };
  }

  /** The lifecycle status of a generation. */
  @Get('generator/status/:task_id')
  @ApiOkResponse({ type: OperationStatusDto, example: EX.GENERATOR_STATUS })
  @ApiErrors(401, 404, 503)
  async status(@Param('task_id') id: string): Promise<OperationStatusDto> {
    return toStatusView(await this.operations.get('generator', id));
  }

  /** The generated files (file_path, js_path, onnx_path, ...) and the manifest (409 while not finished). */
  @Get('generator/results/:task_id')
  @ApiOkResponse({ type: GenerationResultsDto, example: EX.GENERATION_RESULTS })
  @ApiErrors(401, 404, 409, 503)
  async results(@Param('task_id') id: string): Promise<GenerationResultsDto> {
    const { op, result } = await this.operations.result('generator', id);
    return { task_id: op.id, ...(result as Omit<GenerationResultsDto, 'task_id'>) };
  }

  /** Generations, newest first, filtered and cursor-paged. */
  @Get('generator/tasks')
  @ApiOkResponse({ type: GenerationListDto, example: EX.GENERATIONS })
  @ApiErrors(400, 401, 503)
  async tasks(@Query() query: ListOperationsQueryDto): Promise<GenerationListDto> {
    const page = await this.operations.list('generator', query);
    return { items: page.items.map((op) => toStatusView(op)), next_cursor: page.next_cursor };
  }

  /** Cancel a generation (`cancelled: false` when it had already ended). */
  @Post('generator/cancel/:task_id')
  @HttpCode(200)
  @ApiOkResponse({ type: CancelResponseDto, example: EX.GENERATION_CANCELLED })
  @ApiErrors(401, 404, 503)
  async cancel(@Param('task_id') id: string): Promise<CancelResponseDto> {
    const { cancelled, op } = await this.operations.cancel('generator', id);
    return { cancelled, status: toStatusView(op) };
  }
}
