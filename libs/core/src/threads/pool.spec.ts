import { join } from 'node:path';
import { HF_TINY } from '../../../../test/fixtures';
import { createBackends } from '../backends';
import { CancelledError, CoreError } from '../errors';
import { loadResolvedModel } from '../models/load';
import type { ResolvedModelPath } from '../models/paths';
import { runModelTests } from '../testing/run-tests';
import type { TestResults } from '../testing/types';
import type { ProgressReport } from '../types';
import { poolWorkerEntry, ThreadPool } from './pool';
import type { TestTask } from './tasks';

jest.setTimeout(120_000);

const model = (name: string): ResolvedModelPath => ({
  kind: 'onnx-file',
  path: join(HF_TINY, name, 'torch_export.onnx'),
  dir: join(HF_TINY, name),
  goldenPath: join(HF_TINY, name, 'io.safetensors'),
});
const task = (name: string, testType: TestTask['request']['testType'] = 'basic'): TestTask => ({
  model: model(name),
  request: { modelName: name, hardware: ['cpu'], testType, goldenPath: model(name).goldenPath },
});
const checks = (r: TestResults) => r.test_details.map((d) => `${d.backend}/${d.name}: ${d.status}`);

describe('ThreadPool', () => {
  let pool: ThreadPool;
  beforeEach(() => {
    pool = new ThreadPool({ size: 2, hardware: ['cpu'], backendOptions: { intraOpNumThreads: 1 } });
  });
  afterEach(() => pool.close());

  it('starts the TypeScript worker through ts-node under Jest', () => {
    const { file, execArgv } = poolWorkerEntry();
    expect(file).toMatch(/worker\.ts$/);
    expect(execArgv[0]).toBe('-r');
    expect(execArgv[1]).toMatch(/ts-node[\\/]register[\\/]transpile-only/);
  });

  it('runs a test in a worker thread with the same checks and verdicts as in process, forwarding progress', async () => {
    const reports: ProgressReport[] = [];
    const isolated = await pool.run('test', task('distilbert', 'comprehensive'), {
      onProgress: (r) => reports.push(r),
    });
    const loaded = await loadResolvedModel(model('distilbert'), 'distilbert');
    const inProcess = await runModelTests(
      { ...task('distilbert', 'comprehensive').request, model: loaded },
      { backends: createBackends(['cpu'], { intraOpNumThreads: 1 }) },
      { signal: new AbortController().signal, onProgress: () => undefined },
    );
    expect(isolated.status).toBe('passed');
    expect(checks(isolated)).toEqual(checks(inProcess));
    expect(checks(isolated)).toContain('cpu/golden_io: passed');
    expect(reports.length).toBeGreaterThan(2);
    expect(reports.map((r) => r.progress)).toEqual([...reports.map((r) => r.progress)].sort((a, b) => a - b));
  });

  it('keeps its threads: tasks one after another reuse one, concurrent ones use at most `size`', async () => {
    await pool.run('test', task('bert'));
    await pool.run('test', task('gpt2'));
    expect(pool.threads).toBe(1);
    const all = await Promise.all(
      ['bert', 'gpt2', 'llama', 'vit', 'distilbert'].map((m) => pool.run('test', task(m))),
    );
    expect(all.map((r) => r.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed']);
    expect(pool.threads).toBe(2);
  });

  it('passes a cancel on to the thread, and the next task runs', async () => {
    const controller = new AbortController();
    const run = pool.run('test', task('llama', 'comprehensive'), {
      signal: controller.signal,
      onProgress: (r) => r.progress > 0.1 && controller.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect((await pool.run('test', task('bert'))).status).toBe('passed');
  });

  it('says when a task waits for a free thread, and a cancel ends the wait at once', async () => {
    const one = new ThreadPool({ size: 1, hardware: ['cpu'], backendOptions: { intraOpNumThreads: 1 } });
    try {
      let firstDone = false;
      const first = one.run('test', task('llama', 'comprehensive')).then((r) => ((firstDone = true), r));
      const controller = new AbortController();
      const steps: string[] = [];
      const second = one.run('test', task('bert'), {
        signal: controller.signal,
        onProgress: (r) => {
          steps.push(r.step);
          controller.abort();
        },
      });
      await expect(second).rejects.toBeInstanceOf(CancelledError);
      expect(steps).toEqual(['waiting for a free worker thread (1 busy)']);
      expect(firstDone).toBe(false);
      expect((await first).status).toBe('passed');
    } finally {
      await one.close();
    }
  });

  it('rejects an already-aborted task without running it', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(pool.run('test', task('bert'), { signal: controller.signal })).rejects.toBeInstanceOf(
      CancelledError,
    );
  });

  it("returns the core's own error for a failed task, and one that cannot be handed over fails alone", async () => {
    const missing = {
      ...task('bert'),
      model: { ...model('bert'), path: join(HF_TINY, 'bert', 'nope.onnx') },
    };
    const err = await pool.run('test', missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoreError);
    expect((err as CoreError).message).toMatch(/nope\.onnx/);
    const uncloneable = {
      ...task('bert'),
      request: { ...task('bert').request, extra: () => 1 },
    } as unknown as TestTask;
    await expect(pool.run('test', uncloneable)).rejects.toThrow(/could not be handed to a worker thread/);
    expect((await pool.run('test', task('bert'))).status).toBe('passed');
  });

  it('fails tasks after close as interrupted (the server is shutting down)', async () => {
    await pool.run('test', task('bert'));
    await pool.close();
    await expect(pool.run('test', task('bert'))).rejects.toMatchObject({
      code: 'INTERRUPTED',
      message: expect.stringMatching(/closed/),
    });
  });
});
