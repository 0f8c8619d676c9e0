/**
 * Prometheus metrics for one app instance, in its own Registry (e2e specs start several apps in
 * one process; the global registry would refuse the second set of names).
 */
import { Inject, Injectable, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { WorkersService } from '../jobs/workers.service';
import { JobQueue } from '../jobs/job-queue';
import { OperationEvents } from '../operations/operation-events';
import type { OperationRecord } from '../operations/operation.types';

/** The route label of a request that matched no route (404s): one series, not one per URL. */
export const UNMATCHED_ROUTE = '<unmatched>';

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const JOB_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** The backend label of a run: its `hardware` request field, sorted and joined (`cpu`, `cpu,webgpu`). */
export function backendLabel(op: Pick<OperationRecord, 'request'>): string {
  const hw = op.request?.hardware;
  const names = (Array.isArray(hw) ? hw : typeof hw === 'string' ? [hw] : []).filter(
    (h): h is string => typeof h === 'string' && h.length > 0,
  );
  return names.length ? [...new Set(names)].sort().join(',') : 'none';
}

@Injectable()
export class MetricsService implements OnModuleInit, OnModuleDestroy {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  readonly jobDuration = new Histogram({
    name: 'ipfs_accelerate_job_duration_seconds',
    help: 'Running time of jobs that ended in this process, by suite, backend and outcome',
    labelNames: ['kind', 'backend', 'status'] as const,
    buckets: JOB_BUCKETS,
    registers: [this.registry],
  });

  readonly jobsTotal = new Counter({
    name: 'ipfs_accelerate_jobs_total',
    help: 'Jobs that ended in this process, by suite, backend and outcome',
    labelNames: ['kind', 'backend', 'status'] as const,
    registers: [this.registry],
  });

  readonly liveWorkers: Gauge;

  private unsubscribe?: () => void;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly queue: JobQueue,
    @Inject(OperationEvents) private readonly events: OperationEvents,
    private readonly workers: WorkersService,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    collectDefaultMetrics({ register: this.registry });
    const jobQueue = this.queue;
    new Gauge({
      name: 'ipfs_accelerate_queue_depth',
      help: 'Jobs waiting per queue',
      labelNames: ['queue'] as const,
      registers: [this.registry],
      // Whatever queues the driver reports (suite names, or finer ones such as `test@cpu`).
      async collect() {
        this.reset();
        let depth: Partial<Record<string, number>>;
        try {
          depth = await jobQueue.depth();
        } catch {
          return; // queue down: no samples rather than a failed scrape
        }
        for (const [queue, n] of Object.entries(depth)) if (typeof n === 'number') this.set({ queue }, n);
      },
    });
    const workerList = this.workers;
    this.liveWorkers = new Gauge({
      name: 'ipfs_accelerate_live_workers',
      help: 'Live worker processes (those that announced themselves within three heartbeats)',
      registers: [this.registry],
      async collect() {
        try {
          this.set((await workerList.list()).length);
        } catch {
          /* Redis down: no sample rather than a failed scrape */
        }
      },
    });
  }

  /** One finished job: its duration and outcome, by suite and backend. */
  observeJob(op: OperationRecord, durationS: number): void {
    const labels = { kind: op.kind, backend: backendLabel(op), status: op.status };
    this.jobsTotal.inc(labels);
    if (Number.isFinite(durationS) && durationS >= 0) this.jobDuration.observe(labels, durationS);
  }

  /** One answered HTTP request; `route` is the matched pattern, or UNMATCHED_ROUTE. */
  observeHttp(method: string, route: string | undefined, statusCode: number, durationS: number): void {
    this.httpDuration.observe(
      { method, route: route ?? UNMATCHED_ROUTE, status_code: String(statusCode) },
      durationS,
    );
  }

  contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  onModuleInit(): void {
    this.unsubscribe = this.events.onFinished((op, durationS) => this.observeJob(op, durationS));
    // Fastify's onResponse sees every reply: handlers, the exception filter (4xx from the guard,
    // validation, Fastify's body errors) and the not-found handler alike. Hooks added before
    // `listen` (which readies the instance) apply to every route.
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter?.getType() !== 'fastify') return;
    const fastify = adapter.getInstance<FastifyInstance>();
    fastify.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      this.observeHttp(req.method, req.routeOptions?.url, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
    this.registry.clear();
  }
}
