/** The WebSocket contract with a real `ws` client. */
import WebSocket from 'ws';
import { DRIVERS, json, startServer, TestServer } from './app';
import { until } from './processes';
import { COMMAND_BURST, POLICY_VIOLATION } from '../src/gateways/operations.gateway';
import { WS_MAX_PAYLOAD_BYTES } from '../src/gateways/prefix-ws.adapter';

jest.setTimeout(120_000);

interface Received {
  messages: Array<Record<string, unknown>>;
  /** Messages that arrived as binary frames: every message of the contract is text. */
  binary: number;
  close: Promise<{ code: number }>;
  socket: WebSocket;
  opened: Promise<void>;
}

function connect(url: string, headers: Record<string, string> = {}): Received {
  const socket = new WebSocket(url, { headers });
  const messages: Array<Record<string, unknown>> = [];
  const received = { binary: 0 };
  socket.on('message', (data, isBinary) => {
    if (isBinary) received.binary++;
    messages.push(JSON.parse(String(data)) as Record<string, unknown>);
  });
  const close = new Promise<{ code: number }>((resolve) => socket.on('close', (code) => resolve({ code })));
  const opened = new Promise<void>((resolve, reject) => {
    socket.on('open', () => resolve());
    socket.on('error', reject);
  });
  return {
    messages,
    get binary() {
      return received.binary;
    },
    close,
    socket,
    opened,
  };
}

/**
 * Tries a WebSocket handshake: `opened` when the server upgraded the connection, otherwise the
 * HTTP status and JSON body it answered with instead.
 */
function handshake(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ opened: true } | { opened: false; status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.on('open', () => {
      resolve({ opened: true });
      socket.close();
    });
    socket.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += String(d)));
      res.on('end', () => {
        try {
          resolve({
            opened: false,
            status: res.statusCode ?? 0,
            body: JSON.parse(text) as Record<string, unknown>,
          });
        } catch (err) {
          reject(new Error(`${res.statusCode} with a body that is not JSON: ${text} (${String(err)})`));
        }
      });
    });
    socket.on('error', (err) => reject(err));
  });
}

/** Waits for something the socket receives (polled every 10 ms). */
const received = (what: string, pred: () => boolean) => until(what, pred, 60_000, 10);

describe.each(DRIVERS)('WebSocket progress (%s driver)', (driver) => {
  let server: TestServer;
  const start = async (body: Record<string, unknown>): Promise<string> => {
    const res = await fetch(`${server.url}/api/test/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    return (await json<{ run_id: string }>(res)).run_id;
  };

  beforeAll(async () => {
    server = await startServer(driver);
  });
  afterAll(async () => {
    await server.close();
  });

  it('sends the status on connect, rising progress, the final status, then closes 1000', async () => {
    const id = await start({ model_name: 'bert', hardware: ['cpu', 'webgpu'], test_type: 'comprehensive' });
    const ws = connect(`${server.wsUrl}/api/test/ws/${id}`);
    const { code } = await ws.close;
    expect(code).toBe(1000);
    const statuses = ws.messages.filter((m) => 'status' in m);
    expect(statuses.length).toBeGreaterThanOrEqual(3);
    expect(statuses[0]).toMatchObject({ id, kind: 'test' });
    expect(statuses[statuses.length - 1]).toMatchObject({ id, status: 'completed', progress: 1 });
    const progress = statuses.map((m) => m.progress as number);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!).toBeGreaterThanOrEqual(progress[i - 1]!);
    expect(new Set(progress).size).toBeGreaterThan(2);
  });

  it('gives every subscriber of one operation the same updates as text, the final status, then 1000', async () => {
    const id = await start({ model_name: 'llama', hardware: ['cpu', 'webgpu'], test_type: 'comprehensive' });
    const watchers = Array.from({ length: 25 }, () => connect(`${server.wsUrl}/api/test/ws/${id}`));
    await Promise.all(watchers.map((w) => w.opened));
    // one of them talks while the broadcast goes on: its replies interleave with the shared frames
    const talker = watchers[0]!;
    talker.socket.send('ping');
    talker.socket.send('status');
    const codes = await Promise.all(watchers.map((w) => w.close));
    expect(codes.map((c) => c.code)).toEqual(watchers.map(() => 1000));
    expect(talker.messages).toContainEqual({ pong: true });
    const updates = (w: Received) => w.messages.filter((m) => 'status' in m).slice(1);
    const last = updates(talker).pop();
    expect(last).toMatchObject({ id, status: 'completed', progress: 1 });
    for (const w of watchers) {
      expect(w.binary).toBe(0);
      expect(w.messages[w.messages.length - 1]).toEqual(last);
    }
    // Everyone connected before the run finished: the updates after the first common one are the same
    // for all (a watcher that connected a little later may have missed earlier ones). The talker is
    // left out here: its reply to `status` is a snapshot of its own, interleaved with the shared frames.
    const tails = watchers.slice(1).map((w) => updates(w).map((m) => JSON.stringify(m)));
    const shortest = Math.min(...tails.map((t) => t.length));
    for (const t of tails) expect(t.slice(-shortest)).toEqual(tails[0]!.slice(-shortest));
  });

  it('answers ping, status and cancel', async () => {
    const id = await start({ model_name: 'llama', hardware: ['cpu', 'webgpu'], test_type: 'comprehensive' });
    const ws = connect(`${server.wsUrl}/api/test/ws/${id}`);
    await ws.opened;
    await received('the first status', () => ws.messages.length > 0);
    ws.socket.send('ping');
    await received('pong', () => ws.messages.some((m) => m.pong === true)).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(ws.messages)}`);
    });
    ws.socket.send('status');
    await received('the status reply', () => ws.messages.filter((m) => m.id === id).length >= 2);
    ws.socket.send('cancel');
    await received('the cancel reply', () => ws.messages.some((m) => 'cancelled' in m));
    expect(ws.messages.find((m) => 'cancelled' in m)).toEqual({ cancelled: true });
    const { code } = await ws.close;
    expect(code).toBe(1000);
    expect(ws.messages.filter((m) => 'status' in m).pop()).toMatchObject({ status: 'cancelled' });
  });

  it('sends the final status and closes at once for a finished operation', async () => {
    const id = await start({ model_name: 'distilbert', hardware: ['cpu'] });
    const done = connect(`${server.wsUrl}/api/test/ws/${id}`);
    await done.close;
    const ws = connect(`${server.wsUrl}/api/test/ws/${id}`);
    const { code } = await ws.close;
    expect(code).toBe(1000);
    expect(ws.messages).toEqual([expect.objectContaining({ id, status: 'completed' })]);
  });

  it('answers an unknown id with an error and close 4404', async () => {
    for (const path of [
      '/api/test/ws/00000000-0000-0000-0000-000000000000',
      '/api/nope/ws/x',
      '/api/test/ws/%E0%A4%A',
    ]) {
      const ws = connect(`${server.wsUrl}${path}`);
      const { code } = await ws.close;
      expect(code).toBe(4404);
      expect(ws.messages[0]).toEqual({ error: expect.any(String) });
    }
  });

  it('refuses an upgrade without the API key with HTTP 401 and the error body, before any socket opens', async () => {
    const secured = await startServer(driver, { API_KEY: 'secret-key-123' });
    try {
      const res = await fetch(`${secured.url}/api/test/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'secret-key-123' },
        body: JSON.stringify({ model_name: 'bert' }),
      });
      const { run_id } = await json<{ run_id: string }>(res);
      const path = `${secured.wsUrl}/api/test/ws/${run_id}`;
      const refused = {
        opened: false,
        status: 401,
        body: {
          statusCode: 401,
          error: 'Unauthorized',
          code: 'UNAUTHORIZED',
          message: expect.stringMatching(/API key/),
        },
      };
      // No key, a wrong key in either place, and an unknown id without a key: all refused at the handshake.
      expect(await handshake(path)).toEqual(refused);
      expect(await handshake(path, { 'x-api-key': 'wrong-key-456' })).toEqual(refused);
      expect(await handshake(`${path}?api_key=wrong-key-456`)).toEqual(refused);
      expect(await handshake(`${secured.wsUrl}/api/test/ws/00000000-0000-0000-0000-000000000000`)).toEqual(
        refused,
      );
      const allowed = connect(path, { 'x-api-key': 'secret-key-123' });
      expect((await allowed.close).code).toBe(1000);
      expect(allowed.messages.length).toBeGreaterThan(0);
      const byQuery = connect(`${path}?api_key=secret-key-123`);
      expect((await byQuery.close).code).toBe(1000);
      expect(byQuery.messages.pop()).toMatchObject({ id: run_id, status: 'completed' });
    } finally {
      await secured.close();
    }
  });

  it('closes a socket that sends a frame over the size limit with 1009 and stays healthy', async () => {
    const id = await start({ model_name: 'llama', hardware: ['cpu', 'webgpu'], test_type: 'comprehensive' });
    const big = connect(`${server.wsUrl}/api/test/ws/${id}`);
    await big.opened;
    big.socket.on('error', () => undefined); // the client sees the close, not an error to report
    big.socket.send(Buffer.alloc(WS_MAX_PAYLOAD_BYTES + 1, 0x61), { binary: false });
    expect((await big.close).code).toBe(1009);
    // 8 MiB in one frame: refused from its header, the server does not buffer it.
    const huge = connect(`${server.wsUrl}/api/test/ws/${id}`);
    await huge.opened;
    huge.socket.on('error', () => undefined);
    huge.socket.send(Buffer.alloc(8 * 1024 * 1024, 0x61));
    expect((await huge.close).code).toBe(1009);
    // A command at the limit is still read (and answered as unknown).
    const fine = connect(`${server.wsUrl}/api/test/ws/${id}`);
    await fine.opened;
    fine.socket.send('x'.repeat(WS_MAX_PAYLOAD_BYTES));
    await received('the answer to a command at the limit', () => fine.messages.some((m) => 'error' in m));
    fine.socket.send('ping');
    await received('pong', () => fine.messages.some((m) => m.pong === true));
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    fine.socket.close();
  });

  it('cuts off a client past the command rate limit with an error and close 1008', async () => {
    const id = await start({ model_name: 'llama', hardware: ['cpu', 'webgpu'], test_type: 'comprehensive' });
    const ws = connect(`${server.wsUrl}/api/test/ws/${id}`);
    await ws.opened;
    await received('the first status', () => ws.messages.length > 0);
    // One ping at a time, each after the last pong: the burst is spent, then the refill is outrun.
    let closed = false;
    void ws.close.then(() => (closed = true));
    let pongs = 0;
    for (let i = 0; i < 2000 && !closed; i++) {
      ws.socket.send('ping');
      await received('a reply', () => closed || ws.messages.filter((m) => m.pong || m.error).length > i);
      pongs = ws.messages.filter((m) => m.pong === true).length;
      if (ws.messages.some((m) => 'error' in m)) break;
    }
    expect((await ws.close).code).toBe(POLICY_VIOLATION);
    expect(ws.messages.filter((m) => 'error' in m)).toEqual([
      { error: expect.stringMatching(/^rate limit/) },
    ]);
    expect(pongs).toBeGreaterThanOrEqual(COMMAND_BURST);
    console.log(`rate limit: ${pongs} pings answered before the cut-off`);
  });

  it('cuts off a flood of 10,000 status commands at once, and keeps serving everyone else', async () => {
    const id = await start({ model_name: 'llama', hardware: ['cpu', 'webgpu'], test_type: 'comprehensive' });
    const flood = connect(`${server.wsUrl}/api/test/ws/${id}`);
    const watcher = connect(`${server.wsUrl}/api/test/ws/${id}`);
    await Promise.all([flood.opened, watcher.opened]);
    for (let i = 0; i < 10_000; i++) flood.socket.send('status');
    expect((await flood.close).code).toBe(POLICY_VIOLATION);
    const errors = flood.messages.filter((m) => 'error' in m);
    expect(errors).toEqual([{ error: expect.stringMatching(/^rate limit/) }]);
    // It got at most the commands it was allowed, and never more answers than the pending limit allows.
    expect(flood.messages.filter((m) => m.id === id).length).toBeLessThanOrEqual(1 + COMMAND_BURST);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    watcher.socket.send('status');
    await received('the watcher is answered', () => watcher.messages.filter((m) => m.id === id).length >= 2);
    expect((await watcher.close).code).toBe(1000);
    expect(watcher.messages.pop()).toMatchObject({ id, status: 'completed' });
  });

  it('answers an upgrade beyond WS_MAX_CONNECTIONS with 503 and the error body', async () => {
    const capped = await startServer(driver, { WS_MAX_CONNECTIONS: '2' });
    try {
      const res = await fetch(`${capped.url}/api/test/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model_name: 'llama',
          hardware: ['cpu', 'webgpu'],
          test_type: 'comprehensive',
        }),
      });
      const { run_id } = await json<{ run_id: string }>(res);
      const path = `${capped.wsUrl}/api/test/ws/${run_id}`;
      const first = connect(path);
      const second = connect(path);
      await Promise.all([first.opened, second.opened]);
      expect(await handshake(path)).toEqual({
        opened: false,
        status: 503,
        body: expect.objectContaining({ statusCode: 503, message: expect.stringMatching(/at most 2/) }),
      });
      first.socket.close();
      await first.close;
      await until('a slot is free again', async () => (await handshake(path)).opened, 30_000);
      second.socket.close();
    } finally {
      await capped.close();
    }
  });
});
