/**
 * @nestjs/platform-ws's WsAdapter hands an upgrade to a gateway only when the pathname equals the
 * gateway's path exactly. Our sockets live at /api/{component}/ws/{id}, so this adapter routes an
 * upgrade to the gateway whose path is a prefix of it; the gateway reads the rest (component, id).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WsAdapter } from '@nestjs/platform-ws';
import type { WebSocketServer } from 'ws';

type PathedServer = WebSocketServer & { path: string };

export class PrefixWsAdapter extends WsAdapter {
  protected override ensureHttpServerExists(port: number, httpServer?: Server): Server | undefined {
    // Separate ports (not used here) keep the stock behaviour.
    if (!httpServer) return super.ensureHttpServerExists(port);
    const registry = this.httpServersRegistry as Map<number, Server>;
    if (registry.has(port)) return undefined;
    const server = httpServer;
    registry.set(port, server);
    const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        const pathname = new URL(request.url ?? '/', 'ws://localhost').pathname;
        const servers = (this.wsServersRegistry.get(port) ?? []) as PathedServer[];
        const target = servers.find((s) => pathname === s.path || pathname.startsWith(`${s.path}/`));
        if (!target) {
          socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
          return;
        }
        target.handleUpgrade(request, socket, head, (ws) => target.emit('connection', ws, request));
      } catch {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
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
