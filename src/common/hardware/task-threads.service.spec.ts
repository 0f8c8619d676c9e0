import { join } from 'node:path';
import { HF_TINY } from '../../../test/fixtures';
import { OrtBackend } from '../../../libs/core/src/backends';
import type { TestTask } from '../../../libs/core/src/threads/tasks';
import type { BackendDetection, HardwareBackend } from '../../../libs/core/src/types';
import { loadConfig } from '../config/app-config';
import { HardwareService } from './hardware.service';
import { TaskThreads } from './task-threads.service';

jest.setTimeout(60_000);

const task: TestTask = {
  model: { kind: 'onnx-file', path: join(HF_TINY, 'bert/torch_export.onnx'), dir: join(HF_TINY, 'bert') },
  request: { modelName: 'bert', hardware: ['cpu'], testType: 'basic' },
};
const ctx = () => ({ signal: new AbortController().signal, onProgress: () => undefined });

/** A deployment's own backend: a real onnxruntime CPU backend that says where its sessions were opened. */
class AuditedCpu implements HardwareBackend {
  readonly name = 'cpu' as const;
  readonly opened: string[] = [];
  private readonly inner = new OrtBackend('cpu');
  detect(): Promise<BackendDetection> {
    return this.inner.detect();
  }
  sessionOptions() {
    this.opened.push('sessionOptions');
    return this.inner.sessionOptions();
  }
}

describe('TaskThreads', () => {
  const config = loadConfig({ DATA_DIR: '/tmp', HARDWARE: 'cpu' });

  it('runs work in worker threads when the backends are the stock onnxruntime ones', async () => {
    const backends = [new OrtBackend('cpu')];
    const threads = new TaskThreads(backends, new HardwareService(backends), config);
    try {
      expect(threads.isolated).toBe(true);
      expect((await threads.run('test', task, ctx())).status).toBe('passed');
    } finally {
      await threads.onApplicationShutdown();
    }
  });

  it('keeps work on this thread, with the injected providers, when a deployment replaced them', async () => {
    const audited = new AuditedCpu();
    const threads = new TaskThreads([audited], new HardwareService([audited]), config);
    expect(threads.isolated).toBe(false);
    const results = await threads.run('test', task, ctx());
    expect(results.status).toBe('passed');
    expect(audited.opened.length).toBeGreaterThan(0);
    await threads.onApplicationShutdown();
  });
});
