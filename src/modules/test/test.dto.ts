/** Test Suite: request, responses and the mapper, in one file. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
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
  @ApiPropertyOptional({ enum: ['fp32', 'fp16'] })
  @Optional()
  @IsIn(['fp32', 'fp16'])
  precision?: 'fp32' | 'fp16';
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
