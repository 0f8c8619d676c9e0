import { once } from 'node:events';
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { WebSocket, WebSocketServer } from 'ws';
import { PrefixWsAdapter, WsHandshakeOptions } from './prefix-ws.adapter';

/** An HTTP server with the adapter on it and one gateway at `/api`; connections are recorded. */
async function setUp(handshake: WsHandshakeOptions = { maxConnections: 10 }) {
  const http = createServer((_req, res) => res.end('plain HTTP'));
  // AbstractWsAdapter takes the HTTP server itself in place of an application.
  const adapter = new PrefixWsAdapter(http as unknown as INestApplicationContext, handshake);
  const gateway = adapter.create(0, { path: '/api' });
  const connected: string[] = [];
  adapter.bindClientConnect(gateway, (ws: WebSocket, request: IncomingMessage) => {
    connected.push(request.url ?? '');
    ws.send('hello');
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return { http, adapter, gateway, connected, url };
}

/** Opens a socket: its first message, or the HTTP answer that refused the upgrade. */
function connect(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ message: string; ws: WebSocket } | { status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('message', (data) => resolve({ message: String(data), ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> }),
      );
    });
    ws.once('error', reject);
  });
}

describe('PrefixWsAdapter', () => {
  const open: Array<{ http: Server; adapter: PrefixWsAdapter; gateway: WebSocketServer }> = [];
  afterEach(async () => {
    for (const { http, adapter, gateway } of open.splice(0)) {
      await adapter.close(gateway);
      await adapter.dispose();
      http.close();
    }
  });

  it('hands an upgrade under the gateway path to it, whatever follows the prefix', async () => {
    const s = await setUp();
    open.push(s);
    const answer = await connect(`${s.url}/api/test/ws/0197a3c2?x=1`);
    expect(answer).toMatchObject({ message: 'hello' });
    expect(s.connected).toEqual(['/api/test/ws/0197a3c2?x=1']);
  });

  it('answers 404 with the error body where no gateway path is a prefix (by whole segments)', async () => {
    const s = await setUp();
    open.push(s);
    for (const path of ['/other/ws/1', '/apix/test/ws/1']) {
      expect(await connect(`${s.url}${path}`)).toEqual({
        status: 404,
        body: expect.objectContaining({
          statusCode: 404,
          code: 'NOT_FOUND',
          message: `no WebSocket route ${path}`,
        }),
      });
    }
    expect(s.connected).toEqual([]);
  });

  it('needs the API key in the handshake when one is set (header or api_key), else 401', async () => {
    const s = await setUp({ apiKey: 'k3y-for-the-spec', maxConnections: 10 });
    open.push(s);
    expect(await connect(`${s.url}/api/test/ws/1`)).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHORIZED' },
    });
    expect(await connect(`${s.url}/api/test/ws/1`, { 'x-api-key': 'wrong' })).toMatchObject({ status: 401 });
    expect(await connect(`${s.url}/api/test/ws/1`, { 'x-api-key': 'k3y-for-the-spec' })).toMatchObject({
      message: 'hello',
    });
    expect(await connect(`${s.url}/api/test/ws/1?api_key=k3y-for-the-spec`)).toMatchObject({
      message: 'hello',
    });
  });

  it('answers 503 beyond the connection limit, and accepts again once a socket closes', async () => {
    const s = await setUp({ maxConnections: 1 });
    open.push(s);
    const first = await connect(`${s.url}/api/test/ws/1`);
    expect(await connect(`${s.url}/api/test/ws/2`)).toMatchObject({ status: 503, body: { statusCode: 503 } });
    const ws = (first as { ws: WebSocket }).ws;
    ws.close();
    await once(ws, 'close');
    while (s.gateway.clients.size > 0) await new Promise((r) => setTimeout(r, 10));
    expect(await connect(`${s.url}/api/test/ws/3`)).toMatchObject({ message: 'hello' });
  });

  it('refuses @SubscribeMessage handlers, namespaces and a port of its own', async () => {
    const s = await setUp();
    open.push(s);
    const client = {} as WebSocket;
    expect(() => s.adapter.bindMessageHandlers(client, [])).not.toThrow();
    expect(() =>
      s.adapter.bindMessageHandlers(client, [
        { message: 'events', callback: () => Promise.resolve(), isAckHandledManually: false },
      ]),
    ).toThrow(/does not route @SubscribeMessage handlers \(events\)/);
    expect(() => s.adapter.create(0, { path: '/x', namespace: 'chat' })).toThrow(/namespaces/);
    expect(() => s.adapter.create(8081, { path: '/x' })).toThrow(/share the HTTP server/);
  });

  it('takes its upgrade listener off the HTTP server on dispose', async () => {
    const s = await setUp();
    expect(s.http.listenerCount('upgrade')).toBe(1);
    await s.adapter.close(s.gateway);
    await s.adapter.dispose();
    expect(s.http.listenerCount('upgrade')).toBe(0);
    s.http.close();
  });
});
