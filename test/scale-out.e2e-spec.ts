/**
 * Scale-out faults with real processes: an API process and two worker processes sharing a private
 * Redis (so it can be restarted) and one store. Each scenario kills or restarts something real.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { HF_TINY } from './fixtures';
import { freePort } from './net';
import { provisionDatabase, ProvisionedDatabase } from './app';
import { PrivateRedis, ServerProcess, tsNodeServer, until } from './processes';

jest.setTimeout(300_000);

describe('scale-out: API and workers as separate processes', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipfs-accel-scale-'));
  let redis: PrivateRedis;
  let apiPort: number;
  // The run's store (SQLite file in DATA_DIR, or a fresh PostgreSQL database on the PostgreSQL pass).
  let store: ProvisionedDatabase;
  let api: ServerProcess;
  const workers: ServerProcess[] = [];
  const url = () => `http://127.0.0.1:${apiPort}`;

  const common = () => ({
    DATA_DIR: dataDir,
    MODEL_ROOTS: HF_TINY,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: 'scale',
    HARDWARE: 'cpu',
    WORKER_LOCK_MS: '3000',
    WORKER_HEARTBEAT_MS: '500',
    BACKEND_WAIT_S: '4',
    ...store.env,
  });
  const startWorker = () => {
    const w = tsNodeServer(`worker-${workers.length + 1}`, {
      ...common(),
      ROLE: 'worker',
      PORT: '0',
    }).start();
    workers.push(w);
    return w;
  };
  const get = async (path: string) =>
    (await fetch(`${url()}${path}`)).json() as Promise<Record<string, unknown>>;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(202);
    return (await res.json()) as { run_id: string };
  };
  const liveWorkers = async () =>
    ((await get('/api/workers')).workers as Array<{
      pid: number;
      current_jobs: string[];
      backends: string[];
    }>) ?? [];
  const finished = (id: string, ms = 120_000) =>
    until(
      `benchmark ${id} finished`,
      async () => {
        const s = await get(`/api/benchmark/status/${id}`);
        return ['completed', 'failed', 'cancelled', 'timeout'].includes(s.status as string) ? s : undefined;
      },
      ms,
    );
  const LONG = {
    model_name: 'bert',
    batch_sizes: [1],
    sequence_lengths: [8],
    min_duration_s: 6,
    min_iterations: 10,
  };

  beforeAll(async () => {
    if (spawnSync('redis-server', ['--version']).status !== 0) {
      throw new Error(
        'redis-server is needed (a private one is restarted here): apt-get install redis-server',
      );
    }
    store = await provisionDatabase();
    redis = await PrivateRedis.start();
    apiPort = await freePort();
    api = tsNodeServer('api', { ...common(), ROLE: 'api', PORT: String(apiPort) }).start();
    startWorker();
    startWorker();
    try {
      await until('api up', async () => (await fetch(`${url()}/health`)).ok || undefined, 180_000);
      await until(
        'two workers announced',
        async () => ((await liveWorkers()).length === 2 ? true : undefined),
        180_000,
      );
    } catch (err) {
      const logs = [api, ...workers].map(
        (p) => `--- ${p.name} (alive: ${p.alive()})\n${p.output.slice(-3000)}`,
      );
      throw new Error(`${(err as Error).message}\n${logs.join('\n')}`);
    }
  });

  afterAll(async () => {
    await Promise.all([api, ...workers].map((p) => p?.stop('SIGKILL')));
    await redis?.kill();
    await store?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists live workers with host, pid, backends and heartbeat', async () => {
    const list = await liveWorkers();
    expect(list.map((w) => w.pid).sort()).toEqual(workers.map((w) => w.pid).sort());
    for (const w of list)
      expect(w).toMatchObject({
        backends: ['cpu'],
        host: expect.any(String),
        last_heartbeat: expect.any(String),
      });
  });

  it('streams every update of a job that runs on a worker to a WebSocket client of the API', async () => {
    const { run_id } = await post('/api/benchmark/run', { ...LONG, min_duration_s: 2 });
    const ws = new WebSocket(`ws://127.0.0.1:${apiPort}/api/benchmark/ws/${run_id}`);
    const messages: Array<{ status: string; progress: number }> = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d)) as { status: string; progress: number }));
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
    expect(code).toBe(1000);
    expect(messages.filter((m) => m.status === 'running').length).toBeGreaterThan(2);
    expect(messages[messages.length - 1]).toMatchObject({ status: 'completed', progress: 1 });
  });

  it('refuses a benchmark on a backend no live worker offers with a 422, storing nothing', async () => {
    const before = ((await get('/api/test/runs?limit=500')).items as unknown[]).length;
    const res = await fetch(`${url()}/api/benchmark/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...LONG, hardware: ['webgpu'], min_duration_s: 0.1 }),
    });
    expect(res.status).toBe(422);
    const err = (await res.json()) as Record<string, unknown>;
    expect(err).toMatchObject({
      statusCode: 422,
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/webgpu.*no live worker offers webgpu/),
      details: { backends: [{ name: 'webgpu', available: false }] },
    });
    // A test run with webgpu is refused too (no live worker offers it), one with cpu is not.
    const test = await fetch(`${url()}/api/test/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model_name: 'bert', hardware: ['webgpu'] }),
    });
    expect(test.status).toBe(422);
    expect(((await get('/api/test/runs?limit=500')).items as unknown[]).length).toBe(before);
  });

  it('hands the job of a worker killed with SIGKILL to another worker, which completes it', async () => {
    const { run_id } = await post('/api/benchmark/run', LONG);
    const holder = await until('a worker runs it', async () =>
      (await liveWorkers()).find((w) => w.current_jobs.includes(run_id)),
    );
    const victim = workers.find((w) => w.pid === holder.pid)!;
    await victim.stop('SIGKILL');
    const s = await finished(run_id);
    expect(s).toMatchObject({ status: 'completed' });
    expect(s.attempts).toBeGreaterThanOrEqual(2);
    startWorker();
    await until(
      'two workers again',
      async () => ((await liveWorkers()).length === 2 ? true : undefined),
      180_000,
    );
  });

  it('loses no accepted job when Redis restarts during a run', async () => {
    const { run_id } = await post('/api/benchmark/run', LONG);
    const queued = await post('/api/benchmark/run', { ...LONG, min_duration_s: 0.5 });
    await until('running', async () =>
      (await get(`/api/benchmark/status/${run_id}`)).status === 'running' ? true : undefined,
    );
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1000));
    await redis.restart();
    expect((await finished(run_id)).status).toBe('completed');
    expect((await finished(queued.run_id)).status).toBe('completed');
  });

  it('keeps operations running and queryable while the API process is killed and restarted', async () => {
    const { run_id } = await post('/api/benchmark/run', LONG);
    await until('running', async () =>
      (await get(`/api/benchmark/status/${run_id}`)).status === 'running' ? true : undefined,
    );
    await api.stop('SIGKILL');
    api = tsNodeServer('api', { ...common(), ROLE: 'api', PORT: String(apiPort) }).start();
    await until('api back', async () => (await fetch(`${url()}/health`)).ok || undefined, 180_000);
    const s = await finished(run_id);
    expect(s).toMatchObject({ status: 'completed', attempts: 1 });
  });

  it('lets a worker finish its current job on SIGTERM before it exits', async () => {
    const { run_id } = await post('/api/benchmark/run', { ...LONG, min_duration_s: 3 });
    const holder = await until('a worker runs it', async () =>
      (await liveWorkers()).find((w) => w.current_jobs.includes(run_id)),
    );
    const worker = workers.find((w) => w.pid === holder.pid)!;
    worker.child.kill('SIGTERM');
    await worker.exited();
    const s = await get(`/api/benchmark/status/${run_id}`);
    expect(s).toMatchObject({ status: 'completed', attempts: 1 });
  });
});
