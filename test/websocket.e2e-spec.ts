/** The WebSocket contract with a real `ws` client. */
import WebSocket from 'ws';
import { DRIVERS, json, startServer, TestServer } from './app';
import { until } from './processes';

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
    // for all (a watcher that connected a little later may have missed earlier ones).
    const tails = watchers.map((w) => updates(w).map((m) => JSON.stringify(m)));
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

  it('requires the API key on the handshake when one is set', async () => {
    const secured = await startServer(driver, { API_KEY: 'secret-key-123' });
    try {
      const res = await fetch(`${secured.url}/api/test/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'secret-key-123' },
        body: JSON.stringify({ model_name: 'bert' }),
      });
      const { run_id } = await json<{ run_id: string }>(res);
      const denied = connect(`${secured.wsUrl}/api/test/ws/${run_id}`);
      expect((await denied.close).code).toBe(4401);
      const allowed = connect(`${secured.wsUrl}/api/test/ws/${run_id}`, { 'x-api-key': 'secret-key-123' });
      expect((await allowed.close).code).toBe(1000);
      expect(allowed.messages.length).toBeGreaterThan(0);
    } finally {
      await secured.close();
    }
  });
});
