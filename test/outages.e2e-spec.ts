/**
 * Honest outages: with Redis or PostgreSQL down or frozen, what needs them answers 503 with the
 * error body at once (not after a long hang, not a 202), /health says which dependency is down,
 * and work accepted before the outage completes once it is over.
 *
 * Redis is a private redis-server this spec kills, restarts and freezes (SIGSTOP). PostgreSQL is
 * the shared server, so the outage is made on the network instead: the server under test reaches
 * it through a TCP proxy that can freeze (keep connections, forward nothing, accept new ones and
 * never answer) or go down (drop every connection, refuse new ones).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { createServer, Server, Socket } from 'node:net';
import { json, POSTGRES_ADMIN_URL, postJson, startServer, TestServer } from './app';
import { PrivateRedis, until } from './processes';
import { createScratchDatabase, ScratchDatabase } from '../src/common/store/scratch-postgres';

jest.setTimeout(300_000);

const TERMINAL = ['completed', 'failed', 'cancelled', 'timeout'];

/** A request and how long it took (printed, not asserted: speed is for bench/). */
async function timed(what: string, request: () => Promise<Response>): Promise<Response> {
  const t0 = performance.now();
  const res = await request();
  console.log(`${what}: ${res.status} in ${Math.round(performance.now() - t0)} ms`);
  return res;
}

async function finished(server: TestServer, kind: string, id: string): Promise<Record<string, unknown>> {
  return until(
    `${kind} ${id} finished`,
    async () => {
      const s = await json(await fetch(`${server.url}/api/${kind}/status/${id}`));
      return TERMINAL.includes(s.status as string) ? s : undefined;
    },
    180_000,
    100,
  );
}

const BENCH = { model_name: 'bert', batch_sizes: [1], sequence_lengths: [8], min_iterations: 10 };

async function accept(server: TestServer, path: string, body: unknown): Promise<string> {
  const res = await postJson(server.url, path, body);
  const b = await json(res);
  expect({ status: res.status, b }).toEqual({ status: 202, b: expect.anything() });
  return (b.run_id ?? b.task_id) as string;
}

describe('Redis outage (BullMQ driver, a private redis-server)', () => {
  let redis: PrivateRedis;
  let server: TestServer;

  beforeAll(async () => {
    if (spawnSync('redis-server', ['--version']).status !== 0) {
      throw new Error('redis-server is needed (a private one is stopped here): apt-get install redis-server');
    }
    redis = await PrivateRedis.start();
    server = await startServer('bullmq', {
      REDIS_URL: redis.url,
      WORKER_HEARTBEAT_MS: '500',
      HARDWARE: 'cpu',
    });
  });

  afterAll(async () => {
    redis?.thaw();
    // A failed test may leave Redis down: the server's workers wait for it to close.
    if (redis && !redis.running) await redis.restart();
    await server?.close();
    await redis?.kill();
  });

  /** What must hold while Redis cannot answer: each answer a 503 with the error body. */
  async function expectQueueDown(label: string): Promise<void> {
    const listed = async () =>
      (await json<{ items: unknown[] }>(await fetch(`${server.url}/api/test/runs?limit=500`))).items.length;
    const before = await listed();
    const post = await timed(`${label}: POST /api/test/run`, () =>
      postJson(server.url, '/api/test/run', { model_name: 'distilbert', hardware: ['cpu'] }),
    );
    const body = await json(post);
    // Refused before storing (the queue's depth could not be read), or stored and then refused by
    // the enqueue (the depth was read less than a second ago): a 503 naming Redis either way.
    const stored = body.details !== undefined;
    expect({ status: post.status, body }).toEqual({
      status: 503,
      body: {
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'QUEUE_UNAVAILABLE',
        message: expect.stringMatching(/Redis/),
        ...(stored ? { details: { id: expect.any(String), status: 'failed' } } : {}),
      },
    });
    if (stored) {
      // The operation it stored is not lost nor left queued: it says why it failed.
      const id = (body.details as { id: string }).id;
      expect(await json(await fetch(`${server.url}/api/test/status/${id}`))).toMatchObject({
        id,
        status: 'failed',
        error: { code: 'QUEUE_UNAVAILABLE' },
      });
    } else {
      expect(await listed()).toBe(before);
    }

    const health = await timed(`${label}: GET /health`, () => fetch(`${server.url}/health`));
    expect({ status: health.status, body: await json(health) }).toEqual({
      status: 503,
      body: expect.objectContaining({
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'QUEUE_UNAVAILABLE',
        message: expect.stringMatching(/^queue: /),
        details: { store: 'ok', queue: 'down' },
        status: 'degraded',
        store: 'ok',
        queue: 'down',
        queue_driver: 'bullmq',
        version: expect.any(String),
      }),
    });

    const ready = await timed(`${label}: GET /health/ready`, () => fetch(`${server.url}/health/ready`));
    expect({ status: ready.status, body: await json(ready) }).toEqual({
      status: 503,
      body: expect.objectContaining({ code: 'QUEUE_UNAVAILABLE', queue: 'down', status: 'degraded' }),
    });
    const live = await timed(`${label}: GET /health/live`, () => fetch(`${server.url}/health/live`));
    expect(live.status).toBe(200);

    const workers = await timed(`${label}: GET /api/workers`, () => fetch(`${server.url}/api/workers`));
    expect({ status: workers.status, body: await json(workers) }).toEqual({
      status: 503,
      body: expect.objectContaining({ statusCode: 503, code: 'QUEUE_UNAVAILABLE' }),
    });
  }

  async function expectBack(): Promise<void> {
    const body = await until(
      '/health ok again',
      async () => {
        const res = await fetch(`${server.url}/health`);
        return res.status === 200 ? json(res) : undefined;
      },
      60_000,
      200,
    );
    expect(body).toMatchObject({ status: 'ok', store: 'ok', queue: 'ok', queue_driver: 'bullmq' });
  }

  it('reports Redis ok while it is up', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ status: 'ok', store: 'ok', queue: 'ok' });
  });

  it('Redis down: 503 at once; back: /health ok and the work accepted before completes', async () => {
    // One running, one waiting behind it (one benchmark at a time): both accepted before the outage.
    const running = await accept(server, '/api/benchmark/run', { ...BENCH, min_duration_s: 3 });
    const waiting = await accept(server, '/api/benchmark/run', { ...BENCH, min_duration_s: 0.5 });
    await until('the first one runs', async () => {
      const s = await json(await fetch(`${server.url}/api/benchmark/status/${running}`));
      return s.status === 'running' || undefined;
    });
    await redis.kill(); // nothing kept on disk: its jobs are gone with it
    await expectQueueDown('Redis down');
    await redis.restart();
    await expectBack();
    // The store, not Redis, is the record: the reconciler puts lost jobs back.
    expect(await finished(server, 'benchmark', running)).toMatchObject({ status: 'completed' });
    expect(await finished(server, 'benchmark', waiting)).toMatchObject({ status: 'completed' });
    const after = await accept(server, '/api/test/run', { model_name: 'distilbert', hardware: ['cpu'] });
    expect(await finished(server, 'test', after)).toMatchObject({ status: 'completed' });
  });

  it('Redis frozen (SIGSTOP): 503 within its timeout; thawed: the work accepted before completes', async () => {
    const running = await accept(server, '/api/benchmark/run', { ...BENCH, min_duration_s: 2 });
    const waiting = await accept(server, '/api/benchmark/run', { ...BENCH, min_duration_s: 0.5 });
    redis.freeze();
    try {
      await expectQueueDown('Redis frozen');
    } finally {
      redis.thaw();
    }
    await expectBack();
    expect(await finished(server, 'benchmark', running)).toMatchObject({ status: 'completed' });
    expect(await finished(server, 'benchmark', waiting)).toMatchObject({ status: 'completed' });
    const after = await accept(server, '/api/test/run', { model_name: 'distilbert', hardware: ['cpu'] });
    expect(await finished(server, 'test', after)).toMatchObject({ status: 'completed' });
  });
});

/**
 * A TCP proxy to a real server, with faults: `freeze` forwards nothing either way (open
 * connections stay open, new ones are accepted and never answered), `down` drops every connection
 * and refuses new ones, `restore` goes back to forwarding.
 */
class FaultyProxy {
  private server?: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private frozen = false;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    public port = 0,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<FaultyProxy> {
    const proxy = new FaultyProxy(targetHost, targetPort);
    await proxy.listen();
    return proxy;
  }

  private listen(): Promise<void> {
    const server = createServer((client) => {
      const upstream = new Socket();
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const drop = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      const connect = () => {
        upstream.connect(this.targetPort, this.targetHost);
        client.pipe(upstream);
        upstream.pipe(client);
      };
      if (this.frozen) {
        client.pause();
        this.pending.push(connect);
      } else connect();
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  private pending: Array<() => void> = [];

  freeze(): void {
    this.frozen = true;
    for (const [client, upstream] of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  async down(): Promise<void> {
    this.frozen = false;
    this.pending = [];
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
    for (const [client, upstream] of [...this.pairs]) {
      client.destroy();
      upstream.destroy();
    }
  }

  async restore(): Promise<void> {
    this.frozen = false;
    if (!this.server) await this.listen();
    for (const [client, upstream] of this.pairs) {
      client.resume();
      upstream.resume();
    }
    const pending = this.pending;
    this.pending = [];
    for (const connect of pending) connect();
  }

  async close(): Promise<void> {
    await this.down();
  }
}

describe('PostgreSQL outage (the shared server behind a faulty TCP proxy)', () => {
  let scratch: ScratchDatabase;
  let proxy: FaultyProxy;
  let server: TestServer;

  beforeAll(async () => {
    scratch = await createScratchDatabase(POSTGRES_ADMIN_URL, 'outage');
    const target = new URL(scratch.url);
    proxy = await FaultyProxy.start(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(scratch.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    server = await startServer('embedded', { DATABASE_URL: viaProxy.toString(), HARDWARE: 'cpu' });
  });

  afterAll(async () => {
    await proxy?.restore();
    await server?.close();
    await proxy?.close();
    await scratch?.drop();
  });

  async function expectStoreDown(label: string): Promise<void> {
    const post = await timed(`${label}: POST /api/test/run`, () =>
      postJson(server.url, '/api/test/run', { model_name: 'distilbert', hardware: ['cpu'] }),
    );
    expect({ status: post.status, body: await json(post) }).toEqual({
      status: 503,
      body: {
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'STORE_UNAVAILABLE',
        message: expect.stringMatching(/store is unavailable/),
      },
    });
    const list = await timed(`${label}: GET /api/test/runs`, () => fetch(`${server.url}/api/test/runs`));
    expect({ status: list.status, body: await json(list) }).toEqual({
      status: 503,
      body: expect.objectContaining({ statusCode: 503, code: 'STORE_UNAVAILABLE' }),
    });
    const health = await timed(`${label}: GET /health`, () => fetch(`${server.url}/health`));
    expect({ status: health.status, body: await json(health) }).toEqual({
      status: 503,
      body: expect.objectContaining({
        statusCode: 503,
        code: 'STORE_UNAVAILABLE',
        details: { store: 'down' },
        status: 'degraded',
        store: 'down',
        queue_driver: 'embedded',
      }),
    });
    // Readiness under the name probes use says the same; liveness asks no dependency.
    const ready = await timed(`${label}: GET /health/ready`, () => fetch(`${server.url}/health/ready`));
    expect({ status: ready.status, body: await json(ready) }).toEqual({
      status: 503,
      body: expect.objectContaining({ code: 'STORE_UNAVAILABLE', store: 'down', status: 'degraded' }),
    });
    const live = await timed(`${label}: GET /health/live`, () => fetch(`${server.url}/health/live`));
    expect({ status: live.status, body: await json(live) }).toEqual({
      status: 200,
      body: { status: 'ok', uptime_s: expect.any(Number) },
    });
  }

  async function expectBack(): Promise<void> {
    await until(
      '/health ok again',
      async () => (await fetch(`${server.url}/health`)).status === 200 || undefined,
      60_000,
      200,
    );
    const id = await accept(server, '/api/test/run', { model_name: 'distilbert', hardware: ['cpu'] });
    expect(await finished(server, 'test', id)).toMatchObject({ status: 'completed' });
  }

  it('reports the store ok while PostgreSQL answers', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ status: 'ok', store: 'ok', queue_driver: 'embedded' });
    expect(body).not.toHaveProperty('queue');
  });

  it('PostgreSQL frozen (connections open, no answer): 503 within its timeout; then back', async () => {
    proxy.freeze();
    try {
      await expectStoreDown('PostgreSQL frozen');
    } finally {
      await proxy.restore();
    }
    await expectBack();
  });

  it('PostgreSQL unreachable (connections dropped, port closed): 503 at once; then back', async () => {
    await proxy.down();
    try {
      await expectStoreDown('PostgreSQL down');
    } finally {
      await proxy.restore();
    }
    await expectBack();
  });
});

describe('SQLite busy (another process holds the write lock past busy_timeout)', () => {
  let server: TestServer;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ipfs-accel-busy-'));
    server = await startServer('embedded', {
      DATABASE_URL: `sqlite:${join(dir, 'store.sqlite')}`,
      HARDWARE: 'cpu',
    });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a write it cannot make 503 STORE_UNAVAILABLE, not 500, and stores nothing', async () => {
    const other = new SQLite(server.config.database.sqlitePath);
    try {
      other.exec('BEGIN IMMEDIATE'); // the write lock, as a sibling process's long write would hold it
      const post = await timed('SQLite busy: POST /api/test/run', () =>
        postJson(server.url, '/api/test/run', { model_name: 'distilbert', hardware: ['cpu'] }),
      );
      expect({ status: post.status, body: await json(post) }).toEqual({
        status: 503,
        body: {
          statusCode: 503,
          error: 'Service Unavailable',
          code: 'STORE_UNAVAILABLE',
          message: expect.stringMatching(/store is unavailable/),
        },
      });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const list = await json<{ items: unknown[] }>(await fetch(`${server.url}/api/test/runs`));
    expect(list.items).toEqual([]);
    const id = await accept(server, '/api/test/run', { model_name: 'distilbert', hardware: ['cpu'] });
    expect(await finished(server, 'test', id)).toMatchObject({ status: 'completed' });
  });
});
