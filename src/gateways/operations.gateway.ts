/**
 * One gateway for /api/{test|generator|benchmark}/ws/{id}: the full status on connect, one message
 * per update (coalesced to at most 20 a second), the final status, then close 1000. Text commands:
 * `ping` → {"pong":true}, `status` → status, `cancel` → {"cancelled":bool}.
 */
import type { IncomingMessage } from 'node:http';
import { Inject, Logger } from '@nestjs/common';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { secretsEqual } from '../common/auth/api-key.guard';
import { AppConfig, COMPONENTS, Component } from '../common/config/app-config';
import { InjectConfig } from '../common/config/config.module';
import { OperationEvents } from '../common/operations/operation-events';
import { isTerminal, OperationStatusView, toStatusView } from '../common/operations/operation.types';
import { OperationsService } from '../common/operations/operations.service';

const PATH = /^\/api\/([a-z]+)\/ws\/([^/]+)\/?$/;
export const MIN_INTERVAL_MS = 50; // 20 messages a second per operation, at most

@WebSocketGateway({ path: '/api' })
export class OperationsGateway implements OnGatewayConnection<WebSocket> {
  private readonly logger = new Logger('OperationsGateway');

  constructor(
    private readonly operations: OperationsService,
    @Inject(OperationEvents) private readonly events: OperationEvents,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async handleConnection(client: WebSocket, request: IncomingMessage): Promise<void> {
    try {
      await this.accept(client, request);
    } catch (err) {
      this.logger.warn(`WebSocket connection failed: ${(err as Error).message}`);
      if (client.readyState === client.OPEN) this.reject(client, 1011, 'internal error');
    }
  }

  private async accept(client: WebSocket, request: IncomingMessage): Promise<void> {
    const url = new URL(request.url ?? '/', 'ws://localhost');
    const match = PATH.exec(url.pathname);
    const component = match?.[1] as Component | undefined;
    if (!match || !component || !(COMPONENTS as readonly string[]).includes(component)) {
      return this.reject(
        client,
        4404,
        `no WebSocket route ${url.pathname}; use /api/{test|generator|benchmark}/ws/{id}`,
      );
    }
    if (this.config.apiKey) {
      const header = request.headers['x-api-key'];
      const given = typeof header === 'string' ? header : url.searchParams.get('api_key');
      if (!given || !secretsEqual(given, this.config.apiKey)) {
        return this.reject(client, 4401, 'missing or invalid API key (X-API-Key header or api_key query)');
      }
    }
    let id: string;
    try {
      id = decodeURIComponent(match[2]!);
    } catch {
      return this.reject(client, 4404, 'malformed operation id');
    }
    const first = await this.status(component, id);
    if (!first) return this.reject(client, 4404, `no ${component} operation with id ${id}`);
    this.follow(client, component, id, first);
  }

  private follow(client: WebSocket, component: Component, id: string, first: OperationStatusView): void {
    let lastSent = '';
    let lastAt = 0;
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    let pendingCommands = 0;
    let closeWhenIdle: string | undefined;

    const close = (reason: string): void => {
      if (pendingCommands > 0) {
        closeWhenIdle = reason; // a command's answer (e.g. cancel) goes out before the close
        return;
      }
      client.close(1000, reason);
    };
    const send = (view: OperationStatusView): void => {
      const text = JSON.stringify(view);
      if (closed || text === lastSent) return;
      lastSent = text;
      lastAt = Date.now();
      client.send(text);
      if (isTerminal(view.status)) {
        closed = true;
        unsubscribe();
        close(view.status);
      }
    };
    const flush = async (): Promise<void> => {
      timer = undefined;
      const view = await this.status(component, id);
      if (view) send(view);
    };
    const unsubscribe = this.events.subscribe(id, () => {
      if (closed || timer) return;
      const wait = Math.max(0, lastAt + MIN_INTERVAL_MS - Date.now());
      timer = setTimeout(() => void flush().catch((e: Error) => this.logger.warn(e.message)), wait);
    });
    client.on('close', () => {
      closed = true;
      if (timer) clearTimeout(timer);
      unsubscribe();
    });
    client.on('message', (data) => {
      pendingCommands++;
      void this.command(client, component, id, String(data).trim()).finally(() => {
        pendingCommands--;
        if (pendingCommands === 0 && closeWhenIdle !== undefined) client.close(1000, closeWhenIdle);
      });
    });
    send(first);
    // An update may have landed between the first read and the subscription.
    void flush();
  }

  private async command(client: WebSocket, component: Component, id: string, text: string): Promise<void> {
    const reply = (body: unknown) => client.readyState === client.OPEN && client.send(JSON.stringify(body));
    try {
      if (text === 'ping') return void reply({ pong: true });
      if (text === 'status') return void reply(await this.status(component, id));
      if (text === 'cancel') {
        const { cancelled } = await this.operations.cancel(component, id);
        return void reply({ cancelled });
      }
      reply({ error: `unknown command ${JSON.stringify(text.slice(0, 40))}; use ping, status or cancel` });
    } catch (err) {
      reply({ error: (err as Error).message });
    }
  }

  private async status(component: Component, id: string): Promise<OperationStatusView | undefined> {
    try {
      return toStatusView(await this.operations.get(component, id));
    } catch {
      return undefined;
    }
  }

  private reject(client: WebSocket, code: number, message: string): void {
    client.send(JSON.stringify({ error: message }));
    client.close(code, message.slice(0, 120));
  }
}
