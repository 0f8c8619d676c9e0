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

interface Subscriber {
  client: WebSocket;
  pendingCommands: number;
  closed: boolean;
  /** Set when the final status went out while a command was still being answered. */
  closeWhenIdle?: string;
}

interface Channel {
  id: string;
  component: Component;
  subscribers: Set<Subscriber>;
  lastSent: string;
  lastAt: number;
  timer?: NodeJS.Timeout;
  unsubscribe: () => void;
}

@WebSocketGateway({ path: '/api' })
export class OperationsGateway implements OnGatewayConnection<WebSocket> {
  private readonly logger = new Logger('OperationsGateway');
  private readonly channels = new Map<string, Channel>();

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

  /**
   * Subscribers of one operation share a channel: each update is read from the store and
   * serialized once, then sent to every subscriber (so 1,000 watchers cost one read, not 1,000).
   */
  private follow(client: WebSocket, component: Component, id: string, first: OperationStatusView): void {
    const subscriber: Subscriber = { client, pendingCommands: 0, closed: false };
    let channel = this.channels.get(id);
    if (!channel) {
      channel = {
        id,
        component,
        subscribers: new Set(),
        lastSent: '',
        lastAt: 0,
        unsubscribe: () => undefined,
      };
      const ch = channel;
      ch.unsubscribe = this.events.subscribe(id, () => this.schedule(ch));
      this.channels.set(id, ch);
    }
    const ch = channel;
    ch.subscribers.add(subscriber);
    client.on('close', () => {
      subscriber.closed = true;
      this.leave(ch, subscriber);
    });
    client.on('message', (data) => {
      subscriber.pendingCommands++;
      void this.command(client, component, id, String(data).trim()).finally(() => {
        subscriber.pendingCommands--;
        if (subscriber.pendingCommands === 0 && subscriber.closeWhenIdle !== undefined) {
          client.close(1000, subscriber.closeWhenIdle);
        }
      });
    });
    this.deliver(subscriber, JSON.stringify(first), first);
    // An update may have landed between the first read and the subscription.
    this.schedule(ch);
  }

  private schedule(ch: Channel): void {
    if (ch.timer || ch.subscribers.size === 0) return;
    const wait = Math.max(0, ch.lastAt + MIN_INTERVAL_MS - Date.now());
    ch.timer = setTimeout(() => {
      ch.timer = undefined;
      void this.flush(ch).catch((e: Error) => this.logger.warn(e.message));
    }, wait);
  }

  private async flush(ch: Channel): Promise<void> {
    const view = await this.status(ch.component, ch.id);
    if (!view) return;
    const text = JSON.stringify(view);
    if (text === ch.lastSent) return;
    ch.lastSent = text;
    ch.lastAt = Date.now();
    // Encoded once for all subscribers (ws frames a Buffer as is; a string it would encode per socket).
    const payload = Buffer.from(text);
    const subscribers = [...ch.subscribers];
    for (const sub of subscribers) this.send(sub, payload);
    // Every subscriber gets the final status before any close handshake starts, so the last
    // of 1,000 does not wait behind 999 closes.
    if (isTerminal(view.status)) for (const sub of subscribers) this.finish(sub, view);
  }

  /** Sends one status; after a terminal one, closes 1000 (once any command's answer went out). */
  private deliver(sub: Subscriber, text: string, view: OperationStatusView): void {
    this.send(sub, text);
    if (isTerminal(view.status)) this.finish(sub, view);
  }

  private send(sub: Subscriber, data: string | Buffer): void {
    if (!sub.closed) sub.client.send(data, { binary: false });
  }

  private finish(sub: Subscriber, view: OperationStatusView): void {
    if (sub.closed) return;
    sub.closed = true;
    const ch = this.channels.get(view.id);
    if (ch) this.leave(ch, sub);
    if (sub.pendingCommands > 0) sub.closeWhenIdle = view.status;
    else sub.client.close(1000, view.status);
  }

  private leave(ch: Channel, sub: Subscriber): void {
    ch.subscribers.delete(sub);
    if (ch.subscribers.size > 0) return;
    if (ch.timer) clearTimeout(ch.timer);
    ch.unsubscribe();
    if (this.channels.get(ch.id) === ch) this.channels.delete(ch.id);
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
