/**
 * The operation a log line is about. Passed explicitly as a log parameter
 * (`logger.warn(msg, operationLog(...))`); PinoLoggerService merges it into the line.
 *
 * Not an AsyncLocalStorage: on Node 20 a store that has been entered once turns on promise hooks
 * for the whole process, and the HTTP hot paths (thousands of promises a second) paid about a
 * fifth of their CPU for it (bench/api.ts, counted with callgrind).
 */
export class OperationLogContext {
  constructor(
    readonly operation_id: string,
    readonly kind: string,
    readonly job: string,
  ) {}

  fields(): { operation_id: string; kind: string; job: string } {
    return { operation_id: this.operation_id, kind: this.kind, job: this.job };
  }
}

export function operationLog(operationId: string, kind: string, job: string): OperationLogContext {
  return new OperationLogContext(operationId, kind, job);
}

/**
 * Fields a log line carries besides its message (`logger.log(msg, logFields({...}))`): a request's
 * id, method and status, an operation's transition. PinoLoggerService merges them into the line.
 */
export class LogFields {
  constructor(private readonly values: Record<string, unknown>) {}

  fields(): Record<string, unknown> {
    return this.values;
  }
}

export function logFields(values: Record<string, unknown>): LogFields {
  return new LogFields(values);
}
