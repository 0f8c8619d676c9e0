/**
 * The edge of the HTTP server, before routing and validation: the JSON body parser with bounds on
 * the shape of a body, and the answers Node's HTTP parser and Fastify's router give before any
 * route runs. Every one of them answers with DESIGN's error body.
 */
import type { Duplex } from 'node:stream';
import { BadRequestException, PayloadTooLargeException } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, REASON } from './error-body';

/**
 * Bounds on a JSON body, checked after parsing and before class-transformer and class-validator see
 * it (both recurse: a deeply nested body overflowed their stack and gave a 500). The request DTOs
 * nest two levels and their longest list holds 64 items, so these bound only abuse.
 */
export const JSON_BODY_LIMITS = {
  /** Levels of nested objects and arrays; the top-level value is level 1. */
  maxDepth: 32,
  /** Object keys and array items counted over the whole body. */
  maxNodes: 10_000,
  /** Items in any one array. */
  maxArrayLength: 1_000,
} as const;

export type JsonBodyLimits = { readonly [K in keyof typeof JSON_BODY_LIMITS]: number };

/** What exceeds a bound, or undefined when the value is within them. Iterative: any depth is safe. */
export function jsonBodyProblem(
  value: unknown,
  limits: JsonBodyLimits = JSON_BODY_LIMITS,
): { status: 400 | 413; message: string; details: Record<string, unknown> } | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const stack: Array<{ node: object; depth: number }> = [{ node: value, depth: 1 }];
  let nodes = 0;
  while (stack.length) {
    const { node, depth } = stack.pop()!;
    if (depth > limits.maxDepth) {
      return {
        status: 400,
        message: `request body is nested more than ${limits.maxDepth} levels deep`,
        details: { limit: 'depth', max: limits.maxDepth },
      };
    }
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    if (Array.isArray(node) && node.length > limits.maxArrayLength) {
      return {
        status: 413,
        message: `request body holds an array of ${node.length} items; at most ${limits.maxArrayLength} are accepted`,
        details: { limit: 'array_length', max: limits.maxArrayLength },
      };
    }
    nodes += children.length;
    if (nodes > limits.maxNodes) {
      return {
        status: 413,
        message: `request body holds more than ${limits.maxNodes} keys and array items`,
        details: { limit: 'keys', max: limits.maxNodes },
      };
    }
    for (const child of children) {
      if (child !== null && typeof child === 'object') stack.push({ node: child, depth: depth + 1 });
    }
  }
  return undefined;
}

type Problem = NonNullable<ReturnType<typeof jsonBodyProblem>>;

const depthProblem = (max: number): Problem => ({
  status: 400,
  message: `request body is nested more than ${max} levels deep`,
  details: { limit: 'depth', max },
});

/**
 * The same bounds on the JSON text, before JSON.parse: parsing 1 MiB of `[[[[...` alone holds the
 * event loop for about half a second, so depth, one array's length and the number of items (a lower
 * bound: the commas) are counted in one pass over the characters first. Malformed text is left to
 * the parser.
 */
export function jsonTextProblem(
  text: string,
  limits: JsonBodyLimits = JSON_BODY_LIMITS,
): Problem | undefined {
  const items: number[] = []; // per open container: commas so far (arrays only; -1 for objects)
  let commas = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: jump to its closing quote (one not preceded by an odd run of backslashes).
      let end = i;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return undefined; // unterminated: the parser says so
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
      }
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      if (items.length >= limits.maxDepth) return depthProblem(limits.maxDepth);
      items.push(c === 0x5b ? 0 : -1);
    } else if (c === 0x5d || c === 0x7d) items.pop();
    else if (c === 0x2c) {
      if (++commas > limits.maxNodes) {
        return {
          status: 413,
          message: `request body holds more than ${limits.maxNodes} keys and array items`,
          details: { limit: 'keys', max: limits.maxNodes },
        };
      }
      const top = items.length - 1;
      if (top >= 0 && items[top]! >= 0 && ++items[top]! >= limits.maxArrayLength) {
        return {
          status: 413,
          message: `request body holds an array of more than ${limits.maxArrayLength} items`,
          details: { limit: 'array_length', max: limits.maxArrayLength },
        };
      }
    }
  }
  return undefined;
}

type Done = (err: Error | null, body?: unknown) => void;

/**
 * The application/json parser: the bounds on the text, Fastify's own parser (prototype-poisoning
 * checks, its errors for empty and malformed bodies), then the exact bounds on the parsed value.
 */
export function boundedJsonParser(
  instance: FastifyInstance,
  limits: JsonBodyLimits = JSON_BODY_LIMITS,
): (req: FastifyRequest, body: Buffer, done: Done) => void {
  const { onProtoPoisoning, onConstructorPoisoning } = instance.initialConfig;
  const parse = instance.getDefaultJsonParser(onProtoPoisoning ?? 'error', onConstructorPoisoning ?? 'error');
  const refuse = (problem: Problem, done: Done) => {
    const response = { message: problem.message, code: 'BODY_TOO_COMPLEX', details: problem.details };
    done(problem.status === 413 ? new PayloadTooLargeException(response) : new BadRequestException(response));
  };
  return (req, body, done) => {
    const text = body.toString('utf8');
    const early = jsonTextProblem(text, limits);
    if (early) return refuse(early, done);
    parse(req, text, (err: Error | null, parsed?: unknown) => {
      if (err) return done(err);
      const problem = jsonBodyProblem(parsed, limits);
      if (problem) return refuse(problem, done);
      done(null, parsed);
    });
  };
}

const CLIENT_ERRORS: Record<string, { status: number; message: string; code: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    message: 'the request line and headers are larger than the server accepts',
    code: 'HEADERS_TOO_LARGE',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    message: 'the request did not arrive in time',
    code: 'REQUEST_TIMEOUT',
  },
};

/**
 * Answers what Node's HTTP parser refuses (headers too large, malformed request lines, bad
 * methods) with the error body; Fastify's default handler sent a body without `code`, Node's own
 * an empty one. The connection is closed afterwards, as Node does.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = err.code ? CLIENT_ERRORS[err.code] : undefined;
  const status = known?.status ?? 400;
  const body = JSON.stringify(
    errorBody(
      status,
      known?.message ?? `the request could not be parsed as HTTP (${err.code ?? 'malformed'})`,
      known?.code ?? 'MALFORMED_REQUEST',
    ),
  );
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${REASON[status] ?? 'Error'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Fastify's router errors (a URL it cannot decode, a path parameter over maxParamLength). */
export function frameworkErrors(
  err: Error & { code?: string; statusCode?: number },
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
  const message =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'a path parameter is longer than the server accepts'
      : err.code === 'FST_ERR_BAD_URL'
        ? 'the URL could not be decoded'
        : err.message;
  void reply
    .status(status)
    .header('content-type', 'application/json; charset=utf-8')
    .send(errorBody(status, message, err.code === 'FST_ERR_BAD_URL' ? 'BAD_URL' : undefined));
}
