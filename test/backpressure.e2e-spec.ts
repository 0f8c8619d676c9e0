/**
 * Backpressure: a queue holds at most QUEUE_MAX_DEPTH waiting jobs. Beyond that a POST answers 429
 * with Retry-After and the error body, and stores nothing; once the queue drains, POSTs are
 * accepted again. The batch route counts all its items.
 */
import { ApiClient, RateLimitError } from '../libs/client/src';
import { createDatabase } from '../src/common/store/database';
import { DRIVERS, json, postJson, startServer, TestServer } from './app';
import { until } from './processes';

jest.setTimeout(300_000);

const MAX_DEPTH = 2;

describe.each(DRIVERS)('queue depth (%s driver)', (driver) => {
  let server: TestServer;
  const post = (path: string, body: unknown) => postJson(server.url, path, body);
  const get = async (path: string) => json(await fetch(`${server.url}${path}`));
  /** The ids of the operations of a kind in the server's store, read from the store itself. */
  const stored = async (kind: 'benchmark' | 'generator') => {
    const db = createDatabase(server.config.database);
    try {
      const rows = await db
        .selectFrom('operations')
        .select('id')
        .where('kind', '=', kind)
        .orderBy('id')
        .execute();
      return rows.map((r) => r.id);
    } finally {
      await db.destroy();
    }
  };
  /**
   * POSTs until accepted. With BullMQ the API counts waiting jobs from Redis at most once a
   * second and counts its own additions in between, so right after a job leaves the queue the
   * count can still include it: such a 429 stores nothing and a later POST is accepted.
   */
  const accepted = (path: string, body: unknown) =>
    until<Record<string, unknown>>(`${path} accepted`, async () => {
      const res = await post(path, body);
      if (res.status === 429) return undefined;
      expect(res.status).toBe(202);
      return json(res);
    });

  const BENCH = { model_name: 'bert', hardware: ['cpu'], batch_sizes: [1], sequence_lengths: [8] };

  beforeAll(async () => {
    server = await startServer(driver, {
      QUEUE_MAX_DEPTH: String(MAX_DEPTH),
      BENCHMARK_CONCURRENCY: '1',
      GENERATOR_CONCURRENCY: '1',
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers 429 with Retry-After beyond the depth, stores nothing, and accepts again once drained', async () => {
    // Hold the benchmark lane with a long run, then fill its queue.
    const hold = (await accepted('/api/benchmark/run', { ...BENCH, min_duration_s: 120 })).run_id as string;
    await until(
      'the long run running',
      async () => (await get(`/api/benchmark/status/${hold}`)).status === 'running',
    );
    const waiting: string[] = [];
    for (let i = 0; i < MAX_DEPTH; i++)
      waiting.push(
        (await accepted('/api/benchmark/run', { ...BENCH, min_duration_s: 0.1 })).run_id as string,
      );
    const before = await stored('benchmark');
    expect(before).toHaveLength(1 + MAX_DEPTH);

    const res = await post('/api/benchmark/run', { ...BENCH, min_duration_s: 0.1 });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = await json(res);
    expect(body).toEqual({
      statusCode: 429,
      error: 'Too Many Requests',
      code: 'QUEUE_FULL',
      message: expect.stringContaining('QUEUE_MAX_DEPTH 2'),
      details: {
        queue: expect.stringMatching(/^benchmark/),
        waiting: expect.any(Number),
        max_depth: MAX_DEPTH,
        retry_after_s: retryAfter,
      },
    });
    expect((body.details as { waiting: number }).waiting).toBeGreaterThanOrEqual(MAX_DEPTH);
    expect(await stored('benchmark')).toEqual(before);

    // The SDK sees a RateLimitError carrying the header (it waits that long before a retry).
    const client = new ApiClient({ baseUrl: server.url, maxRetries: 0 });
    const refused = await client
      .runBenchmark({ ...BENCH, min_duration_s: 0.1 } as never)
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitError);
    expect((refused as RateLimitError).headers?.get('retry-after')).toBe(String(retryAfter));
    expect(await stored('benchmark')).toEqual(before);

    // Drain: cancel the queued runs and the one holding the lane; then a POST is accepted again.
    for (const id of [...waiting, hold]) await post(`/api/benchmark/cancel/${id}`, {});
    const again = (await accepted('/api/benchmark/run', { ...BENCH, min_duration_s: 0.1 })).run_id as string;
    expect(await stored('benchmark')).toContain(again);
  });

  it('counts every item of a batch against the depth', async () => {
    // More items than the queue may ever hold: not worth retrying.
    const tooMany = await post('/api/generator/batch', {
      models: [1, 2, 3].map((i) => ({ model_name: 'bert', output_dir: `too-many-${driver}-${i}` })),
    });
    expect(tooMany.status).toBe(422);
    expect(await json(tooMany)).toMatchObject({ code: 'UNPROCESSABLE', details: { max_depth: MAX_DEPTH } });
    expect(await stored('generator')).toEqual([]);

    // One generation runs, one waits behind it: a single item would still fit, a batch of two not.
    const first = (await accepted('/api/generator/model', { model_name: 'bert', output_dir: `g1-${driver}` }))
      .task_id as string;
    await until(
      'the first generation running',
      async () => (await get(`/api/generator/status/${first}`)).status === 'running',
    );
    const second = (
      await accepted('/api/generator/model', { model_name: 'bert', output_dir: `g2-${driver}` })
    ).task_id as string;
    const before = await stored('generator');
    expect(before).toEqual([first, second].sort());
    const batch = await post('/api/generator/batch', {
      models: [3, 4].map((i) => ({ model_name: 'bert', output_dir: `g${i}-${driver}` })),
    });
    expect(batch.status).toBe(429);
    expect(batch.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await json(batch)).toMatchObject({ code: 'QUEUE_FULL', details: { max_depth: MAX_DEPTH } });
    expect(await stored('generator')).toEqual(before);

    for (const id of [second, first]) await post(`/api/generator/cancel/${id}`, {});
    const later = await accepted('/api/generator/batch', {
      models: [3, 4].map((i) => ({ model_name: 'bert', output_dir: `g${i}-${driver}` })),
    });
    expect((later.tasks as unknown[]).length).toBe(2);
  });
});
