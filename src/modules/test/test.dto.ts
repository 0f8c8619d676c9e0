/** Test Suite: request, responses and the mapper, in one file. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { GENERATED_PRECISIONS, type GeneratedPrecision } from '../../../libs/core/src/models/precision';
import { TEST_TYPES, TestType } from '../../../libs/core/src/testing/types';
import type { BackendName } from '../../../libs/core/src/types';
import {
  IsHardwareList,
  IsSizeList,
  IsTimeoutSeconds,
  AcceptedDto,
  Optional,
  OperationStatusDto,
} from '../../common/operations/operation.dto';
import { OperationRecord, toStatusView } from '../../common/operations/operation.types';

/** Seconds a test run may run when the request gives no `timeout` (capped by MAX_OPERATION_S). */
export const TEST_DEFAULT_TIMEOUT_S = 300;

export class ChatMessageDto {
  /** system, user, assistant, ... as the model's chat template knows them. */
  @IsString()
  @IsNotEmpty()
  @MaxLength(64)
  role: string;

  @IsString()
  @MaxLength(100_000)
  content: string;
}

/** The `generation` test type: exactly one of prompt, messages and input_ids, then transformers' options. */
export class GenerationRequestDto {
  /** Text (needs the model's tokenizer). */
  @Optional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(100_000)
  prompt?: string;

  /** A chat, rendered with the tokenizer's chat template. */
  @ApiPropertyOptional({ type: [ChatMessageDto] })
  @Optional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(256)
  @ValidateNested({ each: true })
  @Type(() => ChatMessageDto)
  messages?: ChatMessageDto[];

  /** Token ids, one row per prompt (rows of different lengths are padded on the left). */
  @ApiPropertyOptional({ type: 'array', items: { type: 'array', items: { type: 'integer', minimum: 0 } } })
  @Optional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(64)
  @IsArray({ each: true })
  @ArrayMinSize(1, { each: true })
  @ArrayMaxSize(8192, { each: true })
  input_ids?: number[][];

  /** New tokens at most per row (default 32); prompt + new tokens must fit the model's context. */
  @Optional()
  @IsInt()
  @Min(1)
  @Max(8192)
  max_new_tokens?: number;

  /** Sample instead of greedy decoding. */
  @Optional()
  @IsBoolean()
  do_sample?: boolean;

  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1e-3)
  @Max(100)
  temperature?: number;

  /** Keep the k most likely tokens (0 = all). */
  @Optional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  top_k?: number;

  /** Keep the smallest set of tokens whose probability reaches p. */
  @Optional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1e-6)
  @Max(1)
  top_p?: number;

  /** Seed of the sampler (default: the test's seed). */
  @Optional()
  @IsInt()
  @Min(0)
  @Max(2 ** 31 - 1)
  seed?: number;
}

export class RunTestRequestDto {
  /** A .onnx file, a folder holding model.onnx (optionally io.safetensors golden IO), or a generated implementation, inside DATA_DIR or MODEL_ROOTS. */
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  model_name: string;

  @IsHardwareList()
  hardware: BackendName[] = ['cpu'];

  @ApiPropertyOptional({ enum: TEST_TYPES, default: 'basic' })
  @Optional()
  @IsIn(TEST_TYPES)
  test_type: TestType = 'basic';

  /** Seconds before a running test is stopped with status `timeout`. */
  @IsTimeoutSeconds(TEST_DEFAULT_TIMEOUT_S)
  timeout?: number;

  /** Also write the results (JSON and JUnit XML) under DATA_DIR/test-results. */
  @Optional()
  @IsBoolean()
  save_results: boolean = true;

  /** Overrides the batch sizes of `comprehensive` ({1, 2, 4}). */
  @IsSizeList(256, 8)
  batch_sizes?: number[];

  /** Overrides the sequence lengths of `comprehensive` ({8, 32}). */
  @IsSizeList(8192, 8)
  sequence_lengths?: number[];

  /**
   * The precision to test: a registry id is generated (and cached) in it; a model file or generated
   * implementation must already be of it (a 422 names the precision it has). Results report the
   * precision that ran.
   */
  @ApiPropertyOptional({ enum: GENERATED_PRECISIONS })
  @Optional()
  @IsIn(GENERATED_PRECISIONS)
  precision?: GeneratedPrecision;

  /** `test_type: generation` only (required there): what to generate from, and how. */
  @Optional()
  @ValidateNested()
  @Type(() => GenerationRequestDto)
  generation?: GenerationRequestDto;
}

export class RunTestAcceptedDto extends AcceptedDto {
  run_id: string;
}

export class TestDetailDto {
  name: string;
  backend: string;
  @ApiProperty({ enum: ['passed', 'failed', 'skipped'] })
  status: 'passed' | 'failed' | 'skipped';
  duration_ms: number;
  message?: string;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  metrics?: Record<string, unknown>;
}

export class TestSummaryDto {
  tests_passed: number;
  tests_failed: number;
  tests_skipped: number;
}

export class BackendPerformanceDto {
  latency_ms: number;
  throughput_items_per_sec: number;
  memory_mb: number;
}

export class TestResultsDto {
  run_id: string;
  @ApiProperty({ enum: ['passed', 'failed'] })
  status: 'passed' | 'failed';
  model_name: string;
  hardware: string[];
  @ApiProperty({ enum: TEST_TYPES })
  test_type: TestType;
  started_at: string;
  completed_at: string;
  duration_s: number;
  summary: TestSummaryDto;
  test_details: TestDetailDto[];
  @ApiProperty({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/BackendPerformanceDto' },
  })
  performance_metrics: Record<string, BackendPerformanceDto>;
  /** The precision of the graph that was tested (`unknown` when the model does not tell). */
  @ApiPropertyOptional()
  precision?: string;
  /**
   * The graph flavour that was tested: `portable`, `optimized` (the generator's fused graph), or
   * `unknown` for a graph the generator did not build.
   */
  @ApiPropertyOptional()
  graph?: string;
}

export class TestRunListDto {
  items: OperationStatusDto[];
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}

export class TestTypeDto {
  @ApiProperty({ enum: TEST_TYPES })
  name: TestType;
  description: string;
}

export class ResultsFormatQueryDto {
  @ApiPropertyOptional({ enum: ['json', 'junit'] })
  @IsOptional()
  @IsIn(['json', 'junit'])
  format?: 'json' | 'junit';
}

export function toAccepted(op: OperationRecord): RunTestAcceptedDto {
  return {
    run_id: op.id,
    status: op.status,
    message: `test run accepted: ${op.request.test_type as string} on ${(op.request.hardware as string[]).join(', ')}`,
    started_at: op.created_at,
  };
}

export function toTestResults(op: OperationRecord, result: unknown): TestResultsDto {
  return { run_id: op.id, ...(result as Omit<TestResultsDto, 'run_id'>) };
}

export { toStatusView };
