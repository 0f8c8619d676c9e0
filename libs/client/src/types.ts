/**
 * Request and response types, taken from the server's DTO classes with type-only imports (erased at
 * compile time, so no Nest code reaches the client at runtime).
 */
import type { HardwareListDto, BackendDto } from '../../../src/common/hardware/hardware.dto';
import type {
  CancelResponseDto,
  ListOperationsQueryDto,
  OperationStatusDto,
} from '../../../src/common/operations/operation.dto';
import type { HealthDto } from '../../../src/health/health.dto';
import type {
  BenchmarkResultsDto,
  BenchmarkRowDto,
  BenchmarkRunsDto,
  BenchmarkRunsQueryDto,
  CompareQueryDto,
  ComparisonDto,
  RunBenchmarkAcceptedDto,
  RunBenchmarkRequestDto,
} from '../../../src/modules/benchmark/benchmark.dto';
import type {
  BatchGenerateAcceptedDto,
  GenerateAcceptedDto,
  GenerateModelRequestDto,
  GenerationListDto,
  GenerationResultsDto,
  ModelListingDto,
  TemplateDto,
} from '../../../src/modules/generator/generator.dto';
import type {
  RunTestAcceptedDto,
  RunTestRequestDto,
  TestResultsDto,
  TestRunListDto,
  TestTypeDto,
} from '../../../src/modules/test/test.dto';

/** A DTO as a request body: the server fills in every defaulted field, so only `K` is required. */
type Input<T, K extends keyof T = never> = Pick<T, K> & Partial<Omit<T, K>>;

export type RunTestRequest = Input<RunTestRequestDto, 'model_name'>;
export type GenerateModelRequest = Input<GenerateModelRequestDto, 'model_name'>;
export type RunBenchmarkRequest = Input<RunBenchmarkRequestDto>;
export type ListOperationsQuery = ListOperationsQueryDto;
export type BenchmarkRunsQuery = BenchmarkRunsQueryDto;
export type CompareQuery = CompareQueryDto;

export type OperationStatus = OperationStatusDto;
export type OperationState = OperationStatusDto['status'];
export type OperationKind = OperationStatusDto['kind'];

export type {
  BackendDto as Backend,
  BenchmarkResultsDto as BenchmarkResults,
  BenchmarkRowDto as BenchmarkRow,
  BenchmarkRunsDto as BenchmarkRuns,
  BatchGenerateAcceptedDto as BatchGenerateAccepted,
  CancelResponseDto as CancelResponse,
  ComparisonDto as Comparison,
  GenerateAcceptedDto as GenerateAccepted,
  GenerationListDto as GenerationList,
  GenerationResultsDto as GenerationResults,
  HardwareListDto as HardwareList,
  HealthDto as Health,
  ModelListingDto as ModelListing,
  RunBenchmarkAcceptedDto as RunBenchmarkAccepted,
  RunTestAcceptedDto as RunTestAccepted,
  TemplateDto as Template,
  TestResultsDto as TestResults,
  TestRunListDto as TestRunList,
  TestTypeDto as TestType,
};

export const TERMINAL_STATES: readonly OperationState[] = ['completed', 'failed', 'cancelled', 'timeout'];

export function isTerminal(state: string): boolean {
  return (TERMINAL_STATES as readonly string[]).includes(state);
}

/** Options every call takes. */
export interface RequestOptions {
  signal?: AbortSignal;
  /** Overrides the client's per-request timeout. */
  timeoutMs?: number;
  /** Overrides the client's retry count. */
  maxRetries?: number;
}

export interface MonitorOptions {
  /** Called with every new status (and the final one). */
  onProgress?: (status: OperationStatus) => void;
  signal?: AbortSignal;
  /** Polling interval (default 500 ms). */
  intervalMs?: number;
  /** Give up after this long with an APITimeoutError (default: no limit; the server's own timeout ends the run). */
  maxWaitMs?: number;
}

/** What every monitor resolves with: the final status, and the results when completed. */
export interface MonitorResult<R> {
  status: OperationStatus;
  results?: R;
}
