/**
 * Request and response types: the schemas of the server's OpenAPI document, generated into
 * ./openapi.ts by openapi-typescript (`npm run client:types`), so the SDK imports nothing of the
 * server. A request field the server fills in with a default is optional.
 */
import type { components, operations } from './openapi';

type Schemas = components['schemas'];
/** The query parameters of an operation of the document, by its operationId. */
type QueryOf<Id extends keyof operations> = NonNullable<operations[Id]['parameters']['query']>;

export type RunTestRequest = Schemas['RunTestRequestDto'];
export type GenerateModelRequest = Schemas['GenerateModelRequestDto'];
export type RunBenchmarkRequest = Schemas['RunBenchmarkRequestDto'];
export type ListOperationsQuery = QueryOf<'TestController_runs'>;
export type BenchmarkRunsQuery = QueryOf<'BenchmarkController_runs'>;
export type CompareQuery = QueryOf<'BenchmarkController_compare'>;

export type OperationStatus = Schemas['OperationStatusDto'];
export type OperationState = OperationStatus['status'];
export type OperationKind = OperationStatus['kind'];

export type Backend = Schemas['BackendDto'];
export type BenchmarkResults = Schemas['BenchmarkResultsDto'];
export type BenchmarkRow = Schemas['BenchmarkRowDto'];
export type BenchmarkRuns = Schemas['BenchmarkRunsDto'];
export type BatchGenerateAccepted = Schemas['BatchGenerateAcceptedDto'];
export type CancelResponse = Schemas['CancelResponseDto'];
export type Comparison = Schemas['ComparisonDto'];
export type ConfigurationResult = Schemas['ConfigurationResultDto'];
export type GenerateAccepted = Schemas['GenerateAcceptedDto'];
export type GenerationList = Schemas['GenerationListDto'];
export type GenerationResults = Schemas['GenerationResultsDto'];
export type HardwareList = Schemas['HardwareListDto'];
export type Health = Schemas['HealthDto'];
export type ModelListing = Schemas['ModelListingDto'];
export type RunBenchmarkAccepted = Schemas['RunBenchmarkAcceptedDto'];
export type RunTestAccepted = Schemas['RunTestAcceptedDto'];
export type Template = Schemas['TemplateDto'];
export type TestResults = Schemas['TestResultsDto'];
export type TestRunList = Schemas['TestRunListDto'];
export type TestType = Schemas['TestTypeDto'];
export type { components, operations, paths } from './openapi';

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
