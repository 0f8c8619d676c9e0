import { AsyncLocalStorage } from 'node:async_hooks';

/** The operation a piece of work belongs to, for log lines (and anything else that wants it). */
export interface OperationContext {
  operation_id: string;
  kind: string;
  job: string;
}

export const operationContext = new AsyncLocalStorage<OperationContext>();
