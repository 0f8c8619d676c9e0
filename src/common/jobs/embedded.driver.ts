/**
 * The embedded driver: an in-process queue per suite with its own concurrency and a maximum depth.
 * Needs nothing; jobs live as long as the process, and the store is their record: at the next
 * start OperationsService puts what was left back on these queues.
 */
import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import { AppConfig, Component } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { JobExecutor } from './job-executor';
import { admit, JobQueue, ReleaseRoom } from './job-queue';
import type { BackendName } from '../../../libs/core/src/types';
import { JOB_QUEUE, JobName, JobOf } from './job.types';

interface Lane {
  name: Component;
  waiting: JobOf<JobName>[];
  /** Room held by requests between their admission and their enqueue (store writes in between). */
  reserved: number;
  active: number;
  limit: number;
  /** Mean seconds per job (exponentially weighted), for the Retry-After estimate. */
  meanJobS?: number;
}

@Injectable()
export class EmbeddedJobQueue extends JobQueue implements OnApplicationShutdown {
  readonly driver = 'embedded' as const;
  private readonly lanes = new Map<Component, Lane>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly executor: JobExecutor,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    super();
    for (const [queue, limit] of Object.entries(config.queue.concurrency) as [Component, number][]) {
      this.lanes.set(queue, { name: queue, waiting: [], reserved: 0, active: 0, limit });
    }
  }

  /** Jobs waiting (operations resumed at start-up included) and room already held count. */
  reserve(name: JobName, _backends: BackendName[], count: number): Promise<ReleaseRoom> {
    const lane = this.lanes.get(JOB_QUEUE[name])!;
    const drainPerS = lane.meanJobS ? lane.limit / lane.meanJobS : undefined;
    admit(lane.name, lane.waiting.length + lane.reserved, count, this.config.queue.maxDepth, drainPerS);
    lane.reserved += count;
    let held = true;
    return Promise.resolve(() => {
      if (held) lane.reserved -= count;
      held = false;
    });
  }

  enqueue<N extends JobName>(job: JobOf<N>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the server is shutting down'));
    const lane = this.lanes.get(JOB_QUEUE[job.name])!;
    lane.waiting.push(job as JobOf<JobName>);
    // Start on the next tick, after the caller has answered its request.
    setImmediate(() => this.pump(lane));
    return Promise.resolve();
  }

  remove(name: JobName, operationId: string): Promise<boolean> {
    const lane = this.lanes.get(JOB_QUEUE[name])!;
    const i = lane.waiting.findIndex((j) => j.data.operationId === operationId);
    if (i < 0) return Promise.resolve(false);
    lane.waiting.splice(i, 1);
    return Promise.resolve(true);
  }

  signalCancel(operationId: string): Promise<void> {
    this.executor.abortLocal(operationId);
    return Promise.resolve();
  }

  depth(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [q, lane] of this.lanes) out[q] = lane.waiting.length;
    return Promise.resolve(out);
  }

  private pump(lane: Lane): void {
    while (!this.closed && lane.active < lane.limit && lane.waiting.length) {
      const job = lane.waiting.shift()!;
      lane.active++;
      const startedAt = performance.now();
      const p = this.executor
        .execute(job)
        .catch(() => undefined)
        .finally(() => {
          const s = (performance.now() - startedAt) / 1000;
          lane.meanJobS = lane.meanJobS === undefined ? s : 0.8 * lane.meanJobS + 0.2 * s;
          lane.active--;
          this.inflight.delete(p);
          this.pump(lane);
        });
      this.inflight.add(p);
    }
  }

  /**
   * On shutdown, running jobs are stopped and awaited; they go back to queued in the store (see
   * JobExecutor), where the waiting ones stay, for the next start.
   */
  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    for (const id of this.executor.runningIds()) {
      this.executor.abortLocal(
        id,
        new CoreError(ErrorCode.INTERRUPTED, 'the server shut down while this operation ran'),
      );
    }
    await Promise.allSettled([...this.inflight]);
  }
}
