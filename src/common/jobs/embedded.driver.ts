/**
 * The embedded driver: an in-process queue per suite with its own concurrency. Needs nothing;
 * jobs live as long as the process (the store marks leftovers INTERRUPTED at the next start).
 */
import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import { AppConfig, Component } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { JobExecutor } from './job-executor';
import { JobQueue } from './job-queue';
import { JOB_QUEUE, JobName, JobOf } from './job.types';

interface Lane {
  waiting: JobOf<JobName>[];
  active: number;
  limit: number;
}

@Injectable()
export class EmbeddedJobQueue extends JobQueue implements OnApplicationShutdown {
  readonly driver = 'embedded' as const;
  private readonly lanes = new Map<Component, Lane>();
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly executor: JobExecutor,
    @InjectConfig() config: AppConfig,
  ) {
    super();
    for (const [queue, limit] of Object.entries(config.queue.concurrency) as [Component, number][]) {
      this.lanes.set(queue, { waiting: [], active: 0, limit });
    }
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
      const p = this.executor
        .execute(job)
        .catch(() => undefined)
        .finally(() => {
          lane.active--;
          this.inflight.delete(p);
          this.pump(lane);
        });
      this.inflight.add(p);
    }
  }

  /** On shutdown, running jobs are cancelled and awaited; waiting ones stay queued in the store. */
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
