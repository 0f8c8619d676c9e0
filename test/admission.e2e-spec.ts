/**
 * Admission control end to end: requests whose estimated memory, disk or shortest duration exceed a
 * budget are a 422 BUDGET_EXCEEDED naming the limit, the estimate and the budget, and store nothing;
 * ordinary requests are accepted. The budgets are set by env so nothing depends on this machine.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { OperationsService } from '../src/common/operations/operations.service';
import type { OperationKind } from '../src/common/operations/operation.types';
import { DRIVERS, TestServer, json, postJson, startServer, waitFor } from './app';

jest.setTimeout(300_000);

const GiB = 2 ** 30;

interface ErrorBody {
  task_id?: string;
  statusCode: number;
  error: string;
  code: string;
  message: string;
  details: Record<string, unknown>;
}

async function cancelAnywhere(postUrl: string, id: string): Promise<void> {
  const base = postUrl.replace(/\/api\/.*$/, '');
  for (const path of [
    `/api/test/cancel/${id}`,
    `/api/benchmark/cancel/${id}`,
    `/api/generator/cancel/${id}`,
  ]) {
    await fetch(`${base}${path}`, { method: 'POST' });
  }
}

async function stored(server: TestServer, kind: OperationKind): Promise<number> {
  const page = await server.app.get(OperationsService).list(kind, { limit: 1000 });
  return page.items.length;
}

async function expectBudget(res: Response, limit: string): Promise<ErrorBody> {
  const body = await json<ErrorBody>(res);
  // Accepted by mistake (admission broken): stop the work at once, it may not fit this machine.
  const id = (body as { run_id?: string }).run_id ?? body.task_id;
  if (res.status === 202 && id) await cancelAnywhere(res.url, id);
  expect({ status: res.status, code: body.code, limit: body.details?.limit }).toEqual({
    status: 422,
    code: 'BUDGET_EXCEEDED',
    limit,
  });
  expect(body).toMatchObject({ statusCode: 422, error: 'Unprocessable Entity' });
  return body;
}

describe.each(DRIVERS)('admission control (%s driver)', (driver) => {
  describe('memory and duration budgets (MEMORY_BUDGET=16GiB)', () => {
    let server: TestServer;
    const post = (path: string, body: unknown) => postJson(server.url, path, body);

    beforeAll(async () => {
      server = await startServer(driver, { MEMORY_BUDGET: '16GiB' });
    });
    afterAll(async () => {
      await server.close();
    });

    it('refuses bert-base-uncased at batch 1024 × seq 512, naming the memory budget, and stores nothing', async () => {
      const before = await stored(server, 'benchmark');
      const res = await post('/api/benchmark/run', {
        model_name: 'bert-base-uncased',
        batch_sizes: [1024],
        sequence_lengths: [512],
        min_duration_s: 1,
      });
      const body = await expectBudget(res, 'memory');
      expect(body.details).toMatchObject({
        model: 'bert-base-uncased',
        budget_bytes: 16 * GiB,
        batch_size: 1024,
        sequence_length: 512,
        basis: 'config',
      });
      expect(body.details.estimate_bytes as number).toBeGreaterThan(24 * GiB);
      expect(body.message).toMatch(/MEMORY_BUDGET/);
      expect(await stored(server, 'benchmark')).toBe(before);
      // Nor did it start generating the on-demand model.
      expect(existsSync(join(server.dataDir, 'models', '.cache'))).toBe(false);
    });

    it('counts the weights of every model of a benchmark at once (their sessions stay open for the rounds)', async () => {
      const before = await stored(server, 'benchmark');
      // Each would fit the 16 GiB alone at batch 1 x seq 8 (the largest, SmolLM2-1.7B, needs ~7 GB);
      // together their fp32 weights (~20 GB) do not.
      const models = [
        'gpt2-xl',
        'HuggingFaceTB/SmolLM2-1.7B',
        'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
        'gpt2-large',
      ];
      const res = await post('/api/benchmark/run', {
        models,
        batch_sizes: [1],
        sequence_lengths: [8],
        min_duration_s: 0,
      });
      const body = await expectBudget(res, 'memory');
      expect(body.message).toMatch(/other model\(s\) held open/);
      expect(body.details.estimate_bytes as number).toBeGreaterThan(16 * GiB);
      expect(await stored(server, 'benchmark')).toBe(before);
    });

    it('refuses a comprehensive test whose shape grid does not fit', async () => {
      const before = await stored(server, 'test');
      const res = await post('/api/test/run', {
        model_name: 'bert-base-uncased',
        test_type: 'comprehensive',
        batch_sizes: [256],
        sequence_lengths: [512],
      });
      await expectBudget(res, 'memory');
      expect(await stored(server, 'test')).toBe(before);
    });

    it('refuses a benchmark whose minimum duration exceeds its timeout, and stores nothing', async () => {
      const before = await stored(server, 'benchmark');
      const res = await post('/api/benchmark/run', {
        model_name: 'bert/torch_export.onnx',
        batch_sizes: [1, 2],
        sequence_lengths: [8],
        min_duration_s: 60,
        timeout: 100,
      });
      const body = await expectBudget(res, 'duration');
      expect(body.details).toEqual({
        limit: 'duration',
        estimate_s: 120,
        budget_s: 100,
        configurations: 2,
        min_duration_s: 60,
      });
      expect(await stored(server, 'benchmark')).toBe(before);
    });

    it('accepts ordinary requests, which then complete', async () => {
      const bench = await post('/api/benchmark/run', {
        model_name: 'bert/torch_export.onnx',
        batch_sizes: [1, 2],
        sequence_lengths: [8],
        min_duration_s: 0.2,
        min_iterations: 5,
        timeout: 60,
      });
      expect(bench.status).toBe(202);
      const test = await post('/api/test/run', {
        model_name: 'bert/torch_export.onnx',
        test_type: 'comprehensive',
      });
      expect(test.status).toBe(202);
      const gen = await post('/api/generator/model', {
        model_name: 'bert',
        output_dir: `admitted-${driver}`,
      });
      expect(gen.status).toBe(202);
      const { run_id: benchId } = await json<{ run_id: string }>(bench);
      const { run_id: testId } = await json<{ run_id: string }>(test);
      const { task_id } = await json<{ task_id: string }>(gen);
      expect(await waitFor(`${server.url}/api/benchmark/status/${benchId}`)).toMatchObject({
        status: 'completed',
      });
      expect(await waitFor(`${server.url}/api/test/status/${testId}`)).toMatchObject({ status: 'completed' });
      expect(await waitFor(`${server.url}/api/generator/status/${task_id}`)).toMatchObject({
        status: 'completed',
      });
    });
  });

  describe('disk budget (DISK_MIN_FREE=100%: nothing more may be written)', () => {
    let server: TestServer;
    const post = (path: string, body: unknown) => postJson(server.url, path, body);

    beforeAll(async () => {
      server = await startServer(driver, { DISK_MIN_FREE: '100%' });
    });
    afterAll(async () => {
      await server.close();
    });

    it('refuses a generation whose weights exceed the free-disk budget, and stores nothing', async () => {
      const before = await stored(server, 'generator');
      const res = await post('/api/generator/model', { model_name: 'bert-base-uncased' });
      const body = await expectBudget(res, 'disk');
      expect(body.details).toMatchObject({ budget_bytes: 0, items: [{ model: 'bert-base-uncased' }] });
      expect(body.details.estimate_bytes as number).toBeGreaterThan(109_482_240 * 4);
      expect(body.details.reserve_bytes as number).toBeGreaterThanOrEqual(
        body.details.available_bytes as number,
      );
      expect(await stored(server, 'generator')).toBe(before);
      expect(existsSync(join(server.dataDir, 'models', 'bert-base-uncased'))).toBe(false);
    });

    it('sums the disk of every item of a batch, and accepts none of them', async () => {
      const before = await stored(server, 'generator');
      const res = await post('/api/generator/batch', {
        models: [
          { model_name: 'bert-base-uncased', output_dir: 'one' },
          { model_name: 'gpt2', output_dir: 'two', precision: 'fp16' },
        ],
      });
      const body = await expectBudget(res, 'disk');
      const items = body.details.items as Array<{ model: string; bytes: number }>;
      expect(items.map((i) => i.model)).toEqual(['bert-base-uncased', 'gpt2']);
      expect(body.details.estimate_bytes).toBe(items[0]!.bytes + items[1]!.bytes);
      expect(items[1]!.bytes).toBeLessThan(items[0]!.bytes); // gpt2 in fp16: 2 bytes a parameter
      expect(await stored(server, 'generator')).toBe(before);
      expect(readdirSync(server.dataDir)).not.toContain('one');
    });

    it('refuses a run on a registry model that would first be generated on demand', async () => {
      const before = await stored(server, 'test');
      const res = await post('/api/test/run', { model_name: 'prajjwal1/bert-tiny' });
      await expectBudget(res, 'disk');
      expect(await stored(server, 'test')).toBe(before);
    });

    it('accepts work that writes no model: a test of a model file', async () => {
      const res = await post('/api/test/run', { model_name: 'bert/torch_export.onnx' });
      expect(res.status).toBe(202);
      const { run_id } = await json<{ run_id: string }>(res);
      expect(await waitFor(`${server.url}/api/test/status/${run_id}`)).toMatchObject({ status: 'completed' });
    });
  });
});
