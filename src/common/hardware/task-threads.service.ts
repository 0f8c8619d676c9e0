import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { OrtBackend } from '../../../libs/core/src/backends';
import { ThreadPool } from '../../../libs/core/src/threads/pool';
import { runTask, type TaskKind, type Tasks } from '../../../libs/core/src/threads/tasks';
import type { HardwareBackend, RunContext } from '../../../libs/core/src/types';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { HARDWARE_BACKENDS, HardwareService } from './hardware.service';

/**
 * Where the suites' CPU-heavy work runs: test runs and model generation go to a pool of worker
 * threads (see ThreadPool), so the process's event loop keeps serving HTTP, WebSocket updates and
 * queue heartbeats while onnxruntime, the graph builder and the compiler work. Benchmarks have a
 * fresh thread per run of their own (runBenchmarkIsolated).
 *
 * The threads rebuild the configured onnxruntime backends from their names and options. A
 * deployment that injects other HardwareBackend providers gets its work run on this thread, with
 * those providers, since they cannot cross to a worker thread.
 */
@Injectable()
export class TaskThreads implements OnApplicationShutdown {
  private readonly pool?: ThreadPool;

  constructor(
    @Inject(HARDWARE_BACKENDS) backends: HardwareBackend[],
    private readonly hardware: HardwareService,
    @InjectConfig() config: AppConfig,
  ) {
    const ort = backends.filter((b): b is OrtBackend => b instanceof OrtBackend);
    if (ort.length === backends.length) {
      this.pool = new ThreadPool({
        // one thread per job the queues may run at once
        size: config.queue.concurrency.test + config.queue.concurrency.generator,
        hardware: ort.map((b) => b.name),
        backendOptions: ort[0]?.options,
      });
    }
  }

  /** Whether work leaves this thread (false when injected backends keep it here). */
  get isolated(): boolean {
    return this.pool !== undefined;
  }

  run<K extends TaskKind>(kind: K, input: Tasks[K]['input'], ctx: RunContext): Promise<Tasks[K]['result']> {
    if (!this.pool) return runTask(kind, input, { backends: () => this.hardware.backends() }, ctx);
    return this.pool.run(kind, input, { signal: ctx.signal, onProgress: ctx.onProgress });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.close();
  }
}
