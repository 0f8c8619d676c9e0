/**
 * Live workers and the work they are waiting for. Each worker announces itself (host, pid,
 * backends, queues, current jobs) in Redis every heartbeat; API processes list them, fail jobs
 * that waited too long for a backend no live worker offers, and put back jobs Redis lost (after a
 * restart without persistence) or whose worker vanished: the store, not Redis, is the record of
 * what was accepted.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ErrorCode } from '../../../libs/core/src/errors';
import type { BackendName } from '../../../libs/core/src/types';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { operationLog } from '../logging/operation-context';
import { OperationEvents } from '../operations/operation-events';
import { OperationRecord } from '../operations/operation.types';
import { OperationsRepository } from '../store/operations.repository';
import { BullJobQueue } from './bullmq.driver';
import { JobExecutor } from './job-executor';
import { JobQueue } from './job-queue';
import { BACKEND_ROUTED, JOB_QUEUE, JobName, queuesFor } from './job.types';

export const WORKER_BACKENDS = Symbol('WORKER_BACKENDS');

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  role: string;
  backends: BackendName[];
  queues: string[];
  current_jobs: string[];
  started_at: string;
  last_heartbeat: string;
}

const JOB_OF_KIND: Record<string, JobName> = Object.fromEntries(
  (Object.keys(JOB_QUEUE) as JobName[]).map((n) => [JOB_QUEUE[n], n]),
);

@Injectable()
export class WorkersService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Workers');
  private readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly startedAt = new Date().toISOString();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    @Inject(WORKER_BACKENDS) private readonly backends: BackendName[],
    private readonly queue: JobQueue,
    private readonly executor: JobExecutor,
    private readonly repo: OperationsRepository,
    @Inject(OperationEvents) private readonly events: OperationEvents,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  private get key(): string {
    return `${this.config.queue.prefix}:workers`;
  }

  private get bull(): BullJobQueue | undefined {
    return this.queue instanceof BullJobQueue ? this.queue : undefined;
  }

  private get runsJobs(): boolean {
    return this.config.role !== 'api';
  }

  self(): WorkerInfo {
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      role: this.config.role,
      backends: this.backends,
      queues: this.runsJobs ? queuesFor(this.config.components, this.backends) : [],
      current_jobs: this.executor.runningIds(),
      started_at: this.startedAt,
      last_heartbeat: new Date().toISOString(),
    };
  }

  /** Live workers: announced within three heartbeats. */
  async list(): Promise<WorkerInfo[]> {
    const bull = this.bull;
    if (!bull) return this.runsJobs ? [this.self()] : [];
    // Bounded: while Redis is down or frozen this fails fast (QUEUE_UNAVAILABLE, 503).
    const all = await bull.redisCall('list workers', () => bull.redis.hgetall(this.key));
    const now = Date.now();
    const live: WorkerInfo[] = [];
    for (const [id, raw] of Object.entries(all)) {
      const info = JSON.parse(raw) as WorkerInfo;
      const age = now - Date.parse(info.last_heartbeat);
      if (age <= 3 * this.config.queue.heartbeatMs) live.push(info);
      else if (age > 60_000) await bull.redisCall('forget a worker', () => bull.redis.hdel(this.key, id));
    }
    return live.sort((a, b) => a.id.localeCompare(b.id));
  }

  onApplicationBootstrap(): void {
    const bull = this.bull;
    if (!bull) return;
    const every = (ms: number, fn: () => Promise<void>) => {
      // A pass still waiting (Redis or the store slow to answer) is not joined by another one.
      let busy = false;
      const t = setInterval(() => {
        if (busy) return;
        busy = true;
        void fn()
          .catch((err: Error) => this.logger.warn(err.message))
          .finally(() => (busy = false));
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    if (this.runsJobs) {
      void this.heartbeat();
      every(this.config.queue.heartbeatMs, () => this.heartbeat());
    }
    if (this.config.role !== 'worker') every(this.config.queue.heartbeatMs, () => this.reconcile());
  }

  private async heartbeat(): Promise<void> {
    const bull = this.bull!;
    await bull.redisCall('heartbeat', () => bull.redis.hset(this.key, this.id, JSON.stringify(this.self())));
  }

  /**
   * One pass over unfinished operations: route-waiting benchmarks get a step saying what they wait
   * for (and fail once they waited longer than BACKEND_WAIT_S); jobs Redis no longer holds, or whose
   * worker is gone, are put back on their queue.
   */
  async reconcile(): Promise<void> {
    const bull = this.bull!;
    const workers = await this.list();
    const running = new Set(workers.flatMap((w) => w.current_jobs));
    const offered = workers.map((w) => new Set(w.backends));
    const now = Date.now();
    const quiet: { op: OperationRecord; name: JobName; operationId: string; backends: BackendName[] }[] = [];
    for (const op of await this.repo.findUnfinished(this.config.components)) {
      const job = JOB_OF_KIND[op.kind]!;
      const backends = (Array.isArray(op.request.hardware) ? op.request.hardware : ['cpu']) as BackendName[];
      if (op.status === 'queued' && BACKEND_ROUTED.has(job)) {
        const servable = offered.some((set) => backends.every((b) => set.has(b)));
        if (!servable) {
          await this.waitForBackends(op, job, backends, now);
          continue;
        }
      }
      const stale = now - Date.parse(op.updated_at) > 3 * this.config.queue.heartbeatMs;
      if (!stale) continue;
      if (op.status === 'running' && running.has(op.id)) continue;
      quiet.push({ op, name: job, operationId: op.id, backends });
    }
    if (quiet.length === 0) return;
    const held = await bull.held(quiet);
    for (const { op, name: job, backends } of quiet) {
      if (held.has(op.id)) continue;
      // Accepted, unfinished, and in no queue and on no worker: put it back.
      await bull.enqueue({ name: job, data: { operationId: op.id, backends } });
      await this.repo.update(op.id, ['queued', 'running'], { current_step: 'requeued (its job was lost)' });
      this.events.changed(op.id);
      this.logger.warn(
        `operation ${op.id} (${op.kind}) requeued: no queue or worker held it`,
        operationLog(op.id, op.kind, job),
      );
    }
  }

  private async waitForBackends(
    op: OperationRecord,
    job: JobName,
    backends: BackendName[],
    now: number,
  ): Promise<void> {
    const waitedS = (now - Date.parse(op.created_at)) / 1000;
    if (waitedS > this.config.queue.backendWaitS) {
      await this.queue.remove(job, op.id, backends);
      const done = await this.repo.update(op.id, ['queued'], {
        status: 'failed',
        finished_at: new Date().toISOString(),
        current_step: 'no worker with its backends',
        error: {
          code: ErrorCode.BACKEND_UNAVAILABLE,
          message: `no live worker offered ${backends.join(' + ')} within ${this.config.queue.backendWaitS} s; start a worker with HARDWARE=${backends.join(',')}`,
        },
      });
      if (done) this.events.changed(op.id);
      return;
    }
    const step = `waiting for a worker with ${backends.join(' + ')}`;
    if (op.current_step !== step) {
      await this.repo.update(op.id, ['queued'], { current_step: step });
      this.events.changed(op.id);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.timers.forEach(clearInterval);
    const bull = this.bull;
    if (bull && this.runsJobs) await bull.redis.hdel(this.key, this.id).catch(() => undefined);
  }
}
