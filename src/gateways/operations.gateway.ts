/**
 * One gateway for /api/{test|generator|benchmark}/ws/{id}: the full status on connect, one message
 * per update (coalesced to at most 20 a second), the final status, then close 1000. Text commands:
 * `ping` → {"pong":true}, `status` → status, `cancel` → {"cancelled":bool}.
 *
 * Limits per connection (the handshake itself, API key and connection count, is checked by
 * PrefixWsAdapter before a socket exists): commands are answered one at a time, in order; a client
 * may send COMMAND_BURST commands at once, then COMMAND_RATE_PER_S a second (a token bucket), with
 * at most MAX_PENDING_COMMANDS waiting for an answer. Beyond either limit the server sends one
 * {"error": "..."} and closes 1008 (policy violation).
 */
import type { IncomingMessage } from 'node:http';
import { Inject, Logger } from '@nestjs/common';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { COMPONENTS, Component } from '../common/config/app-config';
import { OperationEvents } from '../common/operations/operation-events';
import { isTerminal, OperationStatusView, toStatusView } from '../common/operations/operation.types';
import { OperationsService } from '../common/operations/operations.service';

const PATH = /^\/api\/([a-z]+)\/ws\/([^/]+)\/?$/;
export const MIN_INTERVAL_MS = 50; // 20 messages a second per operation, at most
/** Commands a client may send at once (the bucket's size). */
export const COMMAND_BURST = 20;
/** Commands a second a client may send after its burst (the bucket's refill). */
export const COMMAND_RATE_PER_S = 10;
/** Commands received but not yet answered, per connection. */
export const MAX_PENDING_COMMANDS = 8;
/** The close code for a client past its limits (RFC 6455 policy violation). */
export const POLICY_VIOLATION = 1008;

/** A token bucket: `take()` is false once the client spent its burst faster than the refill. */
export class CommandBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly burst = COMMAND_BURST,
    private readonly perSecond = COMMAND_RATE_PER_S,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.at = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) / 1000) * this.perSecond);
    this.at = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

interface Subscriber {
  client: WebSocket;
  bucket: CommandBucket;
  /** Commands received and not answered yet (they run one after another on `queue`). */
  pendingCommands: number;
  queue: Promise<void>;
  /** Set once the first status went out: commands received before wait for it. */
  follow?: (target: { component: Component; id: string }) => void;
  /** The channel it follows, once it does. */
  channel?: Channel;
  closed: boolean;
  /** Past its limits: nothing more is read or answered. */
  cutOff: boolean;
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
  ) {}

  async handleConnection(client: WebSocket, request: IncomingMessage): Promise<void> {
    // Limits apply from the first frame on, also to those sent before the first status went out.
    let follow: Subscriber['follow'];
    const target = new Promise<{ component: Component; id: string }>((resolve) => (follow = resolve));
    const subscriber: Subscriber = {
      client,
      bucket: new CommandBucket(),
      pendingCommands: 0,
      queue: target.then(() => undefined),
      follow,
      closed: false,
      cutOff: false,
    };
    client.on('message', (data) => this.receive(subscriber, target, String(data).trim()));
    client.on('close', () => {
      subscriber.cutOff = true;
    });
    try {
      await this.accept(subscriber, request);
    } catch (err) {
      this.logger.warn(`WebSocket connection failed: ${(err as Error).message}`);
      if (client.readyState === client.OPEN) this.reject(client, 1011, 'internal error');
    }
  }

  private async accept(subscriber: Subscriber, request: IncomingMessage): Promise<void> {
    const client = subscriber.client;
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
    let id: string;
    try {
      id = decodeURIComponent(match[2]!);
    } catch {
      return this.reject(client, 4404, 'malformed operation id');
    }
    const first = await this.status(component, id);
    if (!first) return this.reject(client, 4404, `no ${component} operation with id ${id}`);
    if (subscriber.cutOff) return; // gone (or cut off) while its first status was read
    this.follow(subscriber, component, id, first);
  }

  /**
   * One command from a client: counted against its bucket and its pending limit, then answered
   * after those before it (and after the first status).
   */
  private receive(
    sub: Subscriber,
    target: Promise<{ component: Component; id: string }>,
    text: string,
  ): void {
    if (sub.cutOff) return;
    if (!sub.bucket.take()) {
      return this.cutOff(
        sub,
        `rate limit: at most ${COMMAND_BURST} commands at once, then ${COMMAND_RATE_PER_S} a second`,
      );
    }
    if (sub.pendingCommands >= MAX_PENDING_COMMANDS) {
      return this.cutOff(sub, `rate limit: at most ${MAX_PENDING_COMMANDS} commands awaiting an answer`);
    }
    sub.pendingCommands++;
    sub.queue = sub.queue
      .then(async () => {
        if (sub.cutOff) return;
        const { component, id } = await target;
        await this.command(sub.client, component, id, text);
      })
      .catch((err: Error) => this.logger.warn(`WebSocket command failed: ${err.message}`))
      .finally(() => {
        sub.pendingCommands--;
        if (sub.pendingCommands === 0 && sub.closeWhenIdle !== undefined && !sub.cutOff) {
          sub.client.close(1000, sub.closeWhenIdle);
        }
      });
  }

  /** A client past its limits: one error message, then close 1008; it is no longer followed. */
  private cutOff(sub: Subscriber, message: string): void {
    sub.cutOff = true;
    const open = sub.client.readyState === sub.client.OPEN;
    if (!sub.closed) {
      sub.closed = true;
      if (sub.channel) this.leave(sub.channel, sub);
    }
    if (!open) return;
    sub.client.send(JSON.stringify({ error: message }));
    sub.client.close(POLICY_VIOLATION, message.slice(0, 120));
  }

  /**
   * Subscribers of one operation share a channel: each update is read from the store and
   * serialized once, then sent to every subscriber (so 1,000 watchers cost one read, not 1,000).
   */
  private follow(subscriber: Subscriber, component: Component, id: string, first: OperationStatusView): void {
    const client = subscriber.client;
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
    subscriber.channel = ch;
    client.on('close', () => {
      subscriber.closed = true;
      this.leave(ch, subscriber);
    });
    this.deliver(subscriber, JSON.stringify(first), first);
    // Commands received so far are answered after the first status.
    subscriber.follow?.({ component, id });
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
