/**
 * @nestjs/platform-ws's WsAdapter hands an upgrade to a gateway only when the pathname equals the
 * gateway's path exactly. Our sockets live at /api/{component}/ws/{id}, so this adapter routes an
 * upgrade to the gateway whose path is a prefix of it; the gateway reads the rest (component, id).
 *
 * It also guards the handshake, before any WebSocket exists: with an API key set, an upgrade
 * without it (X-API-Key header or api_key query parameter) is answered `401` with the error body;
 * beyond the connection limit, `503`. Every WebSocket server it creates refuses frames and messages
 * larger than WS_MAX_PAYLOAD_BYTES (ws closes such a socket with 1009).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import { secretsEqual } from '../common/auth/api-key.guard';
import { errorBody, REASON } from '../common/errors/error-body';

type PathedServer = WebSocketServer & { path: string };

/**
 * The largest frame or message a client may send. The commands are `ping`, `status` and `cancel`;
 * 4 KiB leaves room and stays far below the HTTP body limit.
 */
export const WS_MAX_PAYLOAD_BYTES = 4096;

export interface WsHandshakeOptions {
  /** When set, every upgrade must carry it. */
  apiKey?: string;
  /** Most WebSockets open at once (all gateways of this server). */
  maxConnections: number;
}

/** Whether the upgrade carries the key, in the X-API-Key header or the api_key query parameter. */
export function upgradeAuthorized(request: IncomingMessage, url: URL, expected: string): boolean {
  const header = request.headers['x-api-key'];
  const given = typeof header === 'string' ? header : url.searchParams.get('api_key');
  return given !== null && secretsEqual(given, expected);
}

/** Answers an upgrade with a plain HTTP error (DESIGN's error body) and closes the connection. */
function refuse(socket: Duplex, status: number, message: string, code?: string): void {
  const body = JSON.stringify(errorBody(status, message, code));
  socket.end(
    `HTTP/1.1 ${status} ${REASON[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export class PrefixWsAdapter extends WsAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly handshake: WsHandshakeOptions,
  ) {
    super(app);
  }

  override create(
    port: number,
    options?: Record<string, unknown> & { namespace?: string; server?: unknown; path?: string },
  ): unknown {
    return super.create(port, { ...options, maxPayload: WS_MAX_PAYLOAD_BYTES });
  }

  /**
   * A client's protocol error (an oversize frame, a bad opcode) is the client's doing: ws closes
   * that socket (1009, 1002); it is logged at debug, without a stack, so no client can flood the log.
   */
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('connection', (ws: WebSocket) =>
      ws.on('error', (err) => this.logger.debug(`WebSocket client error: ${err.message}`)),
    );
    server.on('error', (err) => this.logger.error(err));
    return server;
  }

  protected override ensureHttpServerExists(port: number, httpServer?: Server): Server | undefined {
    // Separate ports (not used here) keep the stock behaviour.
    if (!httpServer) return super.ensureHttpServerExists(port);
    const registry = this.httpServersRegistry as Map<number, Server>;
    if (registry.has(port)) return undefined;
    const server = httpServer;
    registry.set(port, server);
    const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        const url = new URL(request.url ?? '/', 'ws://localhost');
        const servers = (this.wsServersRegistry.get(port) ?? []) as PathedServer[];
        const target = servers.find((s) => url.pathname === s.path || url.pathname.startsWith(`${s.path}/`));
        if (!target) return refuse(socket, 404, `no WebSocket route ${url.pathname}`);
        const { apiKey, maxConnections } = this.handshake;
        if (apiKey && !upgradeAuthorized(request, url, apiKey)) {
          return refuse(
            socket,
            401,
            'missing or invalid API key (X-API-Key header or api_key query parameter)',
            'UNAUTHORIZED',
          );
        }
        const open = servers.reduce((n, s) => n + s.clients.size, 0);
        if (open >= maxConnections) {
          return refuse(socket, 503, `too many WebSocket connections (at most ${maxConnections})`);
        }
        target.handleUpgrade(request, socket, head, (ws) => target.emit('connection', ws, request));
      } catch {
        refuse(socket, 400, 'malformed WebSocket upgrade request');
      }
    };
    server.on('upgrade', listener);
    // Registered where the stock adapter keeps it, so dispose() takes the listener off again.
    (
      this as unknown as { upgradeListenersRegistry: Map<number, typeof listener> }
    ).upgradeListenersRegistry.set(port, listener);
    return server;
  }
}
