/**
 * The WebSocket adapter of this server, on public APIs only: Nest's `AbstractWsAdapter`
 * (@nestjs/websockets, the documented way to bring a WebSocket library) over the `ws` package's
 * public `WebSocketServer` in `noServer` mode. It replaces a subclass of @nestjs/platform-ws's
 * `WsAdapter` that had to reach into that class's private registries: `WsAdapter` hands an upgrade
 * to a gateway only when the pathname equals the gateway's path exactly, and our sockets live at
 * /api/{component}/ws/{id}.
 *
 * One listener on the HTTP server's `upgrade` event routes an upgrade to the gateway whose path is
 * a prefix of it (the gateway reads the rest: component and id). Before any WebSocket exists it
 * guards the handshake: with an API key set, an upgrade without it (X-API-Key header or api_key
 * query parameter) is answered `401` with the error body; beyond the connection limit, `503`; no
 * gateway for the path, `404`. Every WebSocket server refuses frames and messages larger than
 * WS_MAX_PAYLOAD_BYTES (ws closes such a socket with 1009).
 *
 * Gateways here read their sockets themselves (plain-text commands, see OperationsGateway), so
 * `@SubscribeMessage` handlers are not routed: a gateway that declares one fails at start-up.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { INestApplicationContext, Logger, WsMessageHandler } from '@nestjs/common';
import { AbstractWsAdapter } from '@nestjs/websockets';
import { WebSocket, WebSocketServer } from 'ws';
import { secretsEqual } from '../common/auth/api-key.guard';
import { errorBody, REASON } from '../common/errors/error-body';

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

/** What Nest passes to `create` for a gateway: its @WebSocketGateway options. */
type GatewayOptions = Record<string, unknown> & { path?: string; namespace?: string };

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

/** `/api/` and `/api` alike; `/` for none. */
function normalizePath(path: string | undefined): string {
  return path ? `/${path.replace(/\/+$/, '')}`.replace(/\/+/g, '/') : '/';
}

export class PrefixWsAdapter extends AbstractWsAdapter {
  private readonly logger = new Logger('PrefixWsAdapter');
  /** Gateway paths and their servers, longest path first. */
  private readonly routes: Array<{ path: string; server: WebSocketServer }> = [];
  private upgradeListener?: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

  constructor(
    app: INestApplicationContext,
    private readonly handshake: WsHandshakeOptions,
  ) {
    super(app);
  }

  /** One `noServer` WebSocketServer per gateway path, on the application's HTTP server. */
  create(port: number, options: GatewayOptions = {}): WebSocketServer {
    if (options.namespace) throw new Error('PrefixWsAdapter: WebSocket gateways have no namespaces');
    const httpServer = this.httpServer as Server | undefined;
    if (port !== 0 || !httpServer) {
      throw new Error('PrefixWsAdapter: gateways share the HTTP server (no `port` of their own)');
    }
    const path = normalizePath(options.path);
    const server = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD_BYTES });
    // A client's protocol error (an oversize frame, a bad opcode) is the client's doing: ws closes
    // that socket (1009, 1002); it is logged at debug, without a stack, so no client can flood the log.
    server.on('connection', (ws: WebSocket) =>
      ws.on('error', (err) => this.logger.debug(`WebSocket client error: ${err.message}`)),
    );
    server.on('error', (err) => this.logger.error(err));
    this.routes.push({ path, server });
    this.routes.sort((a, b) => b.path.length - a.path.length);
    if (!this.upgradeListener) {
      this.upgradeListener = (request, socket, head) => this.upgrade(request, socket, head);
      httpServer.on('upgrade', this.upgradeListener);
    }
    return server;
  }

  override bindClientDisconnect(client: WebSocket, callback: () => void): void {
    client.once('close', callback);
  }

  /** Gateways here answer the socket themselves; a `@SubscribeMessage` handler would never run. */
  bindMessageHandlers(_client: WebSocket, handlers: WsMessageHandler[]): void {
    if (handlers.length > 0) {
      throw new Error(
        `PrefixWsAdapter does not route @SubscribeMessage handlers (${handlers.map((h) => h.message).join(', ')})`,
      );
    }
  }

  /** Ends every socket of one gateway's server, then the server. */
  override async close(server: WebSocketServer): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const ws of server.clients) ws.terminate();
    await closed;
  }

  /** Takes the upgrade listener off the HTTP server, which outlives this adapter. */
  override async dispose(): Promise<void> {
    if (this.upgradeListener) (this.httpServer as Server).off('upgrade', this.upgradeListener);
    this.upgradeListener = undefined;
    this.routes.length = 0;
    return Promise.resolve();
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const url = new URL(request.url ?? '/', 'ws://localhost');
      const target = this.routes.find(
        ({ path }) => path === '/' || url.pathname === path || url.pathname.startsWith(`${path}/`),
      )?.server;
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
      const open = this.routes.reduce((n, r) => n + r.server.clients.size, 0);
      if (open >= maxConnections) {
        return refuse(socket, 503, `too many WebSocket connections (at most ${maxConnections})`);
      }
      target.handleUpgrade(request, socket, head, (ws) => target.emit('connection', ws, request));
    } catch {
      refuse(socket, 400, 'malformed WebSocket upgrade request');
    }
  }
}
