/** The SDK against a real server (and a tiny real HTTP peer for retries and timeouts). */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import {
  ApiClient,
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  OperationStatus,
  UnprocessableEntityError,
} from '../libs/client/src';
import { startServer, TestServer } from './app';

jest.setTimeout(60_000);

interface Peer {
  url: string;
  attempts: number;
  close(): Promise<void>;
}

/** A real HTTP server whose answers the test scripts: `answer(n)` for the n-th attempt (1-based). */
async function peer(
  answer: (n: number) => {
    status: number;
    body?: unknown;
    headers?: Record<string, string>;
    delayMs?: number;
  },
): Promise<Peer> {
  const state = { attempts: 0 };
  const server: Server = createServer((_req, res) => {
    const a = answer(++state.attempts);
    setTimeout(() => {
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(JSON.stringify(a.body ?? {}));
    }, a.delayMs ?? 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get attempts() {
      return state.attempts;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('ApiClient against a real server', () => {
  let server: TestServer;
  let client: ApiClient;

  beforeAll(async () => {
    server = await startServer('embedded');
    client = new ApiClient({ baseUrl: server.url });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('health, hardware, models, templates', async () => {
    expect(await client.health()).toMatchObject({ status: 'ok', store: 'ok' });
    const { backends } = await client.getHardware();
    expect(backends.map((b) => b.name).sort()).toEqual(['cpu', 'cuda', 'webgpu']);
    expect(backends.find((b) => b.name === 'cpu')).toMatchObject({ available: true });
    for (const b of backends) if (!b.available) expect(b.reason).toEqual(expect.any(String));
    const models = await client.getModels();
    expect(models.map((m) => m.id)).toContain('bert-base-uncased');
    const templates = await client.getTemplates();
    expect(templates.length).toBeGreaterThan(0);
    expect(templates[0]).toEqual(
      expect.objectContaining({ name: expect.any(String), family: expect.any(String) }),
    );
  });

  it('runTest + monitorTest (polling) resolves with the status and results; JUnit and list work', async () => {
    const accepted = await client.runTest({ model_name: 'bert', hardware: ['cpu'] });
    expect(accepted.run_id).toEqual(expect.any(String));
    const seen: OperationStatus[] = [];
    const { status, results } = await client.monitorTest(accepted.run_id, {
      intervalMs: 50,
      onProgress: (s) => seen.push(s),
    });
    expect(status.status).toBe('completed');
    expect(seen.at(-1)?.status).toBe('completed');
    expect(results).toMatchObject({ run_id: accepted.run_id, status: 'passed', model_name: 'bert' });
    expect(results!.summary.tests_passed).toBeGreaterThan(0);
    const xml = await client.getTestResults(accepted.run_id, { format: 'junit' });
    expect(xml).toContain('<testsuite');
    const list = await client.listTestRuns({ limit: 10 });
    expect(list.items.map((i) => i.id)).toContain(accepted.run_id);
    expect((await client.getTestStatus(accepted.run_id)).status).toBe('completed');
  });

  it('monitorTestWs follows the WebSocket to the final status', async () => {
    const { run_id } = await client.runTest({ model_name: 'bert', hardware: ['cpu'] });
    const seen: OperationStatus[] = [];
    const { status, results } = await client.monitorTestWs(run_id, { onProgress: (s) => seen.push(s) });
    expect(status.status).toBe('completed');
    expect(seen[0]?.id).toBe(run_id);
    expect(results?.status).toBe('passed');
  });

  it('monitorTestWs falls back to polling when the WebSocket cannot connect', async () => {
    const wsless = new ApiClient({ baseUrl: server.url, wsBaseUrl: `ws://127.0.0.1:${await closedPort()}` });
    const { run_id } = await wsless.runTest({ model_name: 'bert', hardware: ['cpu'] });
    const seen: OperationStatus[] = [];
    const { status, results } = await wsless.monitorTestWs(run_id, {
      intervalMs: 50,
      onProgress: (s) => seen.push(s),
    });
    expect(status.status).toBe('completed');
    expect(seen.length).toBeGreaterThan(0);
    expect(results?.run_id).toBe(run_id);
  });

  it('a monitor resolves on a cancelled run too, with no results unless completed', async () => {
    const { run_id } = await client.runTest({
      model_name: 'bert',
      hardware: ['cpu'],
      test_type: 'comprehensive',
    });
    await client.cancelTest(run_id);
    const { status, results } = await client.monitorTestWs(run_id);
    expect(['cancelled', 'completed']).toContain(status.status);
    if (status.status === 'cancelled') expect(results).toBeUndefined();
  });

  it('monitors honour an AbortSignal', async () => {
    const { run_id } = await client.runTest({
      model_name: 'bert',
      hardware: ['cpu'],
      test_type: 'comprehensive',
    });
    const controller = new AbortController();
    const pending = client.monitorTest(run_id, { signal: controller.signal, intervalMs: 20 });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
    await client.cancelTest(run_id).catch(() => undefined);
    await client.monitorTestWs(run_id); // let it settle before the server closes
  });

  it('maps errors to typed classes: 400 with details, 404, 422', async () => {
    const bad = await client
      .runTest({ model_name: 'bert', hardware: ['tpu' as 'cpu'] })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
    expect((bad as BadRequestError).status).toBe(400);
    expect((bad as BadRequestError).details).toBeDefined();
    expect((bad as BadRequestError).code).toEqual(expect.any(String));

    const missing = await client
      .getTestStatus('00000000-0000-4000-8000-000000000000')
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as NotFoundError).status).toBe(404);

    const unknown = await client.runTest({ model_name: 'no-such-model-anywhere' }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(UnprocessableEntityError);
    expect((unknown as UnprocessableEntityError).status).toBe(422);
  });

  it('generates from the hf-tiny bert folder; monitorGeneration resolves with file_path', async () => {
    const { task_id } = await client.generateModel({ model_name: 'bert', hardware: ['cpu'], force: true });
    const seen: OperationStatus[] = [];
    const { status, results } = await client.monitorGeneration(task_id, {
      intervalMs: 100,
      onProgress: (s) => seen.push(s),
    });
    expect(status.status).toBe('completed');
    expect(results?.file_path).toMatch(/\.ts$/);
    expect(results?.cid).toEqual(expect.any(String));
    expect((await client.getGenerationStatus(task_id)).status).toBe('completed');
  });

  it('runs a short benchmark; monitorBenchmark and monitorBenchmarkWs resolve with latency and throughput', async () => {
    const body = {
      model_name: 'bert',
      hardware: ['cpu' as const],
      batch_sizes: [1],
      sequence_lengths: [8],
      min_duration_s: 0.2,
      min_iterations: 5,
    };
    const first = await client.runBenchmark(body);
    const a = await client.monitorBenchmark(first.run_id, { intervalMs: 100 });
    expect(a.status.status).toBe('completed');
    expect(a.results?.latency_ms).toBeGreaterThan(0);
    expect(a.results?.throughput).toBeGreaterThan(0);
    const markdown = await client.getBenchmarkResults(first.run_id, { format: 'markdown' });
    expect(markdown).toContain('| model |');

    const second = await client.runBenchmark(body);
    const b = await client.monitorBenchmarkWs(second.run_id);
    expect(b.results?.latency_ms).toBeGreaterThan(0);
    const comparison = await client.compareBenchmarks({ baseline: first.run_id, candidate: second.run_id });
    expect(['improved', 'regressed', 'unchanged', 'inconclusive']).toContain(comparison.verdict);
    const runs = await client.listBenchmarkRuns({ limit: 10 });
    expect(runs.items.map((r) => r.run_id)).toEqual(expect.arrayContaining([first.run_id, second.run_id]));
  });
});

describe('ApiClient transport: retries, timeouts, aborts', () => {
  it('retries 503 with backoff (Retry-After honoured) and then succeeds', async () => {
    const p = await peer((n) =>
      n <= 2
        ? {
            status: 503,
            body: { statusCode: 503, code: 'UNAVAILABLE', message: 'busy' },
            headers: { 'retry-after': '0' },
          }
        : { status: 200, body: { status: 'ok' } },
    );
    try {
      const client = new ApiClient({ baseUrl: p.url, maxRetries: 2 });
      await expect(client.health()).resolves.toEqual({ status: 'ok' });
      expect(p.attempts).toBe(3);
    } finally {
      await p.close();
    }
  });

  it('gives up after maxRetries with InternalServerError', async () => {
    const p = await peer(() => ({ status: 503, body: { message: 'down' } }));
    try {
      const client = new ApiClient({ baseUrl: p.url, maxRetries: 1, retryBaseDelayMs: 10 });
      const err = await client.health().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InternalServerError);
      expect((err as InternalServerError).status).toBe(503);
      expect(p.attempts).toBe(2);
    } finally {
      await p.close();
    }
  });

  it('never retries a 400', async () => {
    const p = await peer(() => ({
      status: 400,
      body: { statusCode: 400, code: 'VALIDATION', message: 'no', details: [{ field: 'x' }] },
    }));
    try {
      const client = new ApiClient({ baseUrl: p.url, maxRetries: 3, retryBaseDelayMs: 10 });
      const err = await client.health().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BadRequestError);
      expect((err as BadRequestError).details).toEqual([{ field: 'x' }]);
      expect(p.attempts).toBe(1);
    } finally {
      await p.close();
    }
  });

  it('a slow answer ends in APITimeoutError', async () => {
    const p = await peer(() => ({ status: 200, delayMs: 2000 }));
    try {
      const client = new ApiClient({ baseUrl: p.url, timeoutMs: 100, maxRetries: 0 });
      await expect(client.health()).rejects.toBeInstanceOf(APITimeoutError);
    } finally {
      await p.close();
    }
  });

  it('an AbortSignal ends a call in APIUserAbortError', async () => {
    const p = await peer(() => ({ status: 200, delayMs: 2000 }));
    try {
      const client = new ApiClient({ baseUrl: p.url });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      await expect(client.health({ signal: controller.signal })).rejects.toBeInstanceOf(APIUserAbortError);
    } finally {
      await p.close();
    }
  });

  it('a refused connection is retried, then APIConnectionError', async () => {
    const client = new ApiClient({
      baseUrl: `http://127.0.0.1:${await closedPort()}`,
      maxRetries: 1,
      retryBaseDelayMs: 10,
    });
    const err = await client.health().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIConnectionError);
    expect(err).not.toBeInstanceOf(APITimeoutError);
  });
});
