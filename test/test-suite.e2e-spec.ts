/** The Test Suite API end to end, against a real server, on every queue driver CI enables. */
import { HF_TINY_MODELS } from './fixtures';
import { DRIVERS, TestServer, json, postJson, startServer, waitFor } from './app';

jest.setTimeout(300_000);

interface Detail {
  name: string;
  backend: string;
  status: string;
  message?: string;
}

describe.each(DRIVERS)('Test Suite API (%s driver)', (driver) => {
  let server: TestServer;
  const post = (path: string, body: unknown) => postJson(server.url, path, body);
  const runAndWait = async (body: Record<string, unknown>) => {
    const res = await post('/api/test/run', body);
    expect(res.status).toBe(202);
    const accepted = await json(res);
    const status = await waitFor(`${server.url}/api/test/status/${accepted.run_id as string}`);
    return { accepted, status, id: accepted.run_id as string };
  };

  beforeAll(async () => {
    server = await startServer(driver);
  });
  afterAll(async () => {
    await server.close();
  });

  it('reports health and hardware, with an actionable reason for CUDA', async () => {
    const health = await json(await fetch(`${server.url}/health`));
    expect(health).toMatchObject({ status: 'ok', queue_driver: driver, store: 'ok' });
    const hw = await json<{ backends: Array<Record<string, unknown>> }>(
      await fetch(`${server.url}/api/hardware`),
    );
    const by = Object.fromEntries(hw.backends.map((b) => [b.name, b]));
    expect(by.cpu).toMatchObject({ available: true, onnxruntime_version: '1.30.0' });
    expect(by.webgpu).toMatchObject({ available: true });
    expect(by.cuda).toMatchObject({ available: false });
    expect(by.cuda!.reason).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('lists the test types', async () => {
    const types = await json<Array<{ name: string }>>(await fetch(`${server.url}/api/test/types`));
    expect(types.map((t) => t.name)).toEqual(['basic', 'comprehensive', 'fault_tolerance', 'generation']);
  });

  it('accepts a run durably, then completes it with results and JUnit', async () => {
    const res = await post('/api/test/run', { model_name: 'bert', hardware: ['cpu'] });
    expect(res.status).toBe(202);
    const accepted = await json(res);
    expect(accepted).toMatchObject({ status: 'queued', run_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(typeof accepted.started_at).toBe('string');
    // In the store before the 202 went out.
    const early = await fetch(`${server.url}/api/test/status/${accepted.run_id as string}`);
    expect(early.status).toBe(200);
    const status = await waitFor(`${server.url}/api/test/status/${accepted.run_id as string}`);
    expect(status).toMatchObject({ status: 'completed', progress: 1, attempts: 1 });
    for (const k of ['id', 'current_step', 'created_at', 'started_at', 'finished_at', 'elapsed_s', 'eta_s']) {
      expect(status).toHaveProperty(k);
    }
    const results = await json(await fetch(`${server.url}/api/test/results/${accepted.run_id as string}`));
    expect(results).toMatchObject({
      run_id: accepted.run_id,
      status: 'passed',
      model_name: 'bert',
      hardware: ['cpu'],
      test_type: 'basic',
      summary: { tests_failed: 0 },
      // what ran: the fixture's graph holds fp32 weights
      precision: 'fp32',
    });
    expect((results.summary as { tests_passed: number }).tests_passed).toBeGreaterThan(0);
    const junit = await fetch(`${server.url}/api/test/results/${accepted.run_id as string}?format=junit`);
    expect(junit.headers.get('content-type')).toMatch(/xml/);
    const xml = await junit.text();
    expect(xml).toMatch(/^<\?xml/);
    expect(xml).toContain('<testsuite');
  });

  it('runs webgpu runs submitted together one at a time, and every one passes', async () => {
    // Two threads using onnxruntime's WebGPU provider at once crash the process (THREAD_UNSAFE_BACKENDS).
    const runs = await Promise.all(
      ['gpt2', 'llama', 'bert'].map((model_name) =>
        runAndWait({ model_name, hardware: ['cpu', 'webgpu'], test_type: 'comprehensive' }),
      ),
    );
    for (const { id, status } of runs) {
      expect(status.status).toBe('completed');
      const results = await json<{ status: string; test_details: Detail[] }>(
        await fetch(`${server.url}/api/test/results/${id}`),
      );
      expect(results.test_details.filter((d) => d.status !== 'passed')).toEqual([]);
    }
  });

  it.each(HF_TINY_MODELS)(
    'passes comprehensive on cpu and webgpu for the %s fixture, golden included',
    async (name) => {
      const { id, status } = await runAndWait({
        model_name: name,
        hardware: ['cpu', 'webgpu'],
        test_type: 'comprehensive',
      });
      expect(status.status).toBe('completed');
      const results = await json<{
        status: string;
        test_details: Detail[];
        performance_metrics: Record<string, unknown>;
      }>(await fetch(`${server.url}/api/test/results/${id}`));
      const failed = results.test_details.filter((d) => d.status !== 'passed');
      expect(failed).toEqual([]);
      expect(results.status).toBe('passed');
      for (const backend of ['cpu', 'webgpu']) {
        expect(
          results.test_details.some(
            (d) => d.backend === backend && /golden/.test(d.name) && d.status === 'passed',
          ),
        ).toBe(true);
        expect(results.performance_metrics[backend]).toMatchObject({ latency_ms: expect.any(Number) });
      }
    },
  );

  it('refuses a precision the model does not have, naming the one it has', async () => {
    const res = await post('/api/test/run', { model_name: 'bert', hardware: ['cpu'], precision: 'fp16' });
    expect(res.status).toBe(422);
    const body = await json<{ message: string; details: { available_precisions: string[] } }>(res);
    expect(body.details.available_precisions).toEqual(['fp32']);
    const int8 = await post('/api/test/run', { model_name: 'bert', hardware: ['cpu'], precision: 'int8' });
    expect(int8.status).toBe(422);
    expect((await post('/api/test/run', { model_name: 'bert', precision: 'int3' })).status).toBe(400);
  });

  it.each(['fp16', 'int4'])(
    'tests a registry id in %s: generated in that precision, and the results say so',
    async (precision) => {
      const { id, status } = await runAndWait({
        model_name: 'prajjwal1/bert-tiny',
        hardware: ['cpu', 'webgpu'],
        test_type: 'comprehensive',
        precision,
      });
      expect(status.status).toBe('completed');
      const results = await json<{ status: string; precision: string; test_details: Detail[] }>(
        await fetch(`${server.url}/api/test/results/${id}`),
      );
      expect(results.test_details.filter((d) => d.status === 'failed')).toEqual([]);
      expect(results).toMatchObject({ status: 'passed', precision });
    },
  );

  it('skips the checks of an unavailable backend with its reason', async () => {
    const { id, status } = await runAndWait({ model_name: 'distilbert', hardware: ['cpu', 'cuda'] });
    expect(status.status).toBe('completed');
    const results = await json<{ status: string; test_details: Detail[]; summary: Record<string, number> }>(
      await fetch(`${server.url}/api/test/results/${id}`),
    );
    const cuda = results.test_details.filter((d) => d.backend === 'cuda');
    expect(cuda.length).toBeGreaterThan(0);
    expect(cuda.every((d) => d.status === 'skipped' && /cuda/i.test(d.message ?? ''))).toBe(true);
    expect(results.summary.tests_skipped).toBe(cuda.length);
  });

  it('passes fault_tolerance: every fault ends in a clean captured error', async () => {
    const { id, status } = await runAndWait({
      model_name: 'gpt2',
      hardware: ['cpu'],
      test_type: 'fault_tolerance',
    });
    expect(status.status).toBe('completed');
    const results = await json<{ status: string; test_details: Detail[] }>(
      await fetch(`${server.url}/api/test/results/${id}`),
    );
    expect(results.test_details.filter((d) => d.status === 'failed')).toEqual([]);
    expect(results.test_details.some((d) => /truncat/.test(d.name))).toBe(true);
  });

  it('cancels a running run, and a fresh run works after it', async () => {
    const res = await post('/api/test/run', {
      model_name: 'llama',
      hardware: ['cpu', 'webgpu'],
      test_type: 'comprehensive',
    });
    const { run_id } = await json<{ run_id: string }>(res);
    await waitForStatus(server, run_id, 'running');
    const cancel = await json<{ cancelled: boolean; status: { status: string } }>(
      await post(`/api/test/cancel/${run_id}`, {}),
    );
    expect(cancel.cancelled).toBe(true);
    const final = await waitFor(`${server.url}/api/test/status/${run_id}`);
    expect(final.status).toBe('cancelled');
    const results = await fetch(`${server.url}/api/test/results/${run_id}`);
    expect(results.status).toBe(422);
    const again = await runAndWait({ model_name: 'llama', hardware: ['cpu'] });
    expect(again.status.status).toBe('completed');
  });

  it('stops a run that outlives its timeout with status timeout', async () => {
    const { status } = await runAndWait({
      model_name: 'vit',
      hardware: ['cpu', 'webgpu'],
      test_type: 'comprehensive',
      // several seconds of work even on a warm worker thread: large vit batches on both backends
      batch_sizes: [32, 64, 96, 128, 160, 192, 224, 256],
      timeout: 1,
    });
    expect(status.status).toBe('timeout');
    expect(status.error).toMatchObject({ code: 'TIMEOUT' });
  });

  it('lists runs with filters and a cursor', async () => {
    const all = await json<{
      items: Array<{ id: string; status: string; model_name: string }>;
      next_cursor: string | null;
    }>(await fetch(`${server.url}/api/test/runs?limit=2`));
    expect(all.items).toHaveLength(2);
    expect(all.next_cursor).toEqual(expect.any(String));
    const next = await json<{ items: Array<{ id: string }> }>(
      await fetch(`${server.url}/api/test/runs?limit=2&cursor=${all.next_cursor}`),
    );
    expect(next.items.map((i) => i.id)).not.toContain(all.items[0]!.id);
    const bert = await json<{ items: Array<{ model_name: string; status: string }> }>(
      await fetch(`${server.url}/api/test/runs?model=bert&status=completed`),
    );
    expect(bert.items.length).toBeGreaterThan(0);
    expect(bert.items.every((i) => i.model_name === 'bert' && i.status === 'completed')).toBe(true);
    const future = await json<{ items: unknown[] }>(
      await fetch(`${server.url}/api/test/runs?since=2999-01-01T00:00:00Z`),
    );
    expect(future.items).toEqual([]);
  });
});

export async function waitForStatus(
  server: TestServer,
  id: string,
  wanted: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await json(await fetch(`${server.url}/api/test/status/${id}`));
    if (body.status === wanted) return;
    if (Date.now() > deadline) throw new Error(`never reached ${wanted}: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
