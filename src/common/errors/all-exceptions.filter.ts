/**
 * One filter for every error: domain CoreErrors by code, Nest's HttpExceptions, and Fastify's own
 * errors (bad JSON, body too large, wrong content type) all become DESIGN's error body.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { CoreError } from '../../../libs/core/src/errors';
import { errorBody, ErrorBody, STATUS_OF } from './error-body';

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

export function toErrorBody(exception: unknown): ErrorBody {
  if (exception instanceof CoreError) {
    return errorBody(STATUS_OF[exception.code] ?? 500, exception.message, exception.code, exception.details);
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const res = exception.getResponse();
    if (typeof res === 'object' && res !== null) {
      const r = res as { message?: unknown; code?: string; details?: unknown };
      if (Array.isArray(r.message)) {
        return errorBody(status, r.message.join('; '), r.code ?? 'VALIDATION', r.details ?? r.message);
      }
      return errorBody(
        status,
        typeof r.message === 'string' ? r.message : exception.message,
        r.code,
        r.details,
      );
    }
    return errorBody(status, String(res));
  }
  const f = exception as FastifyLikeError;
  if (f && typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    if (f.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return errorBody(413, 'request body is larger than the limit', 'PAYLOAD_TOO_LARGE');
    if (f.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return errorBody(415, f.message ?? 'unsupported media type');
    if (f.code?.startsWith('FST_ERR_CTP') || f instanceof SyntaxError) {
      return errorBody(400, `malformed request body: ${f.message ?? 'invalid JSON'}`, 'MALFORMED_BODY');
    }
    return errorBody(f.statusCode, f.message ?? 'bad request');
  }
  return errorBody(500, 'internal server error', 'INTERNAL');
}

/**
 * Seconds a client should wait before retrying, for the errors that say (QUEUE_FULL: 429): a
 * CoreError whose details carry `retry_after_s`. Sent as the Retry-After header.
 */
export function retryAfterOf(exception: unknown): number | undefined {
  if (!(exception instanceof CoreError)) return undefined;
  const s = (exception.details as { retry_after_s?: unknown } | undefined)?.retry_after_s;
  return typeof s === 'number' && Number.isFinite(s) ? Math.max(1, Math.ceil(s)) : undefined;
}

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const body = toErrorBody(exception);
    if (body.statusCode >= 500)
      this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const retryAfter = retryAfterOf(exception);
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    void reply.status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
  }
}
