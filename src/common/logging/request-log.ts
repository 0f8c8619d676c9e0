/**
 * One log line per HTTP request, when its answer is sent: `request_id` (a UUID, also sent back in
 * the `X-Request-Id` header), method, URL (without the query string, which may carry an API key),
 * status and duration. Every answer counts: handlers, the exception filter, 404s and edge errors.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { logFields } from './operation-context';

/** Fastify's `genReqId`: a UUID per request, so ids are unique across processes and restarts. */
export const genRequestId = (): string => randomUUID();

export function registerRequestLog(fastify: FastifyInstance, logger = new Logger('HTTP')): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const path = request.url.split('?')[0] ?? request.url;
    const ms = Math.round(reply.elapsedTime * 10) / 10;
    logger.log(
      `${request.method} ${path} ${reply.statusCode} ${ms} ms`,
      logFields({ request_id: request.id, method: request.method, url: path, status: reply.statusCode, ms }),
    );
    done();
  });
}
