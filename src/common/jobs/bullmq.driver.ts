/**
 * The BullMQ driver (REDIS_URL set): jobs live in Redis, so API and worker processes can run on
 * different machines. Progress goes through job.updateProgress; QueueEvents tells every API
 * process about every update; cancel is broadcast on a Redis channel to whichever worker runs it.
 */
import { InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { Job, Queue, QueueEvents } from 'bullmq';
import IORedis, { Redis } from 'ioredis';
import { AppConfig, Component, COMPONENTS } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { OperationEvents } from '../operations/operation-events';
import { JobExecutor } from './job-executor';
import { JobQueue } from './job-queue';
import { JOB_QUEUE, JobName, JobOf } from './job.types';

export function redisOptions(url: string): {
  host: string;
  port: number;
  password?: string;
  username?: string;
  db?: number;
  maxRetriesPerRequest: null;
} {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    maxRetriesPerRequest: null,
  };
}

@Injectable()
export class BullJobQueue extends JobQueue implements OnModuleInit, OnApplicationShutdown {
  readonly driver = 'bullmq' as const;
  private readonly logger = new Logger('BullJobQueue');
  private readonly queues: Record<Component, Queue>;
  private readonly queueEvents: QueueEvents[] = [];
  private publisher?: Redis;
  private subscriber?: Redis;

  constructor(
    @InjectQueue('test') test: Queue,
    @InjectQueue('generator') generator: Queue,
    @InjectQueue('benchmark') benchmark: Queue,
    private readonly executor: JobExecutor,
    @Inject(OperationEvents) private readonly events: OperationEvents,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    super();
    this.queues = { test, generator, benchmark };
  }

  async enqueue<N extends JobName>(job: JobOf<N>): Promise<void> {
    await this.queues[JOB_QUEUE[job.name]].add(job.name, job.data, {
      jobId: job.data.operationId,
      removeOnComplete: { count: 10_000 },
      removeOnFail: { count: 10_000 },
    });
  }

  async remove(name: JobName, operationId: string): Promise<boolean> {
    const job = await this.queues[JOB_QUEUE[name]].getJob(operationId);
    if (!job) return false;
    const state = await job.getState();
    if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized' && state !== 'waiting-children')
      return false;
    try {
      await job.remove();
      return true;
    } catch {
      return false; // picked up meanwhile: it will be cancelled through the channel
    }
  }

  private get cancelChannel(): string {
    return `${this.config.queue.prefix}:cancel`;
  }

  async signalCancel(operationId: string): Promise<void> {
    await this.publisher?.publish(this.cancelChannel, operationId);
  }

  async depth(): Promise<Partial<Record<Component, number>>> {
    const out: Partial<Record<Component, number>> = {};
    for (const c of COMPONENTS) out[c] = await this.queues[c].getWaitingCount();
    return out;
  }

  async onModuleInit(): Promise<void> {
    const opts = redisOptions(this.config.queue.redisUrl!);
    this.publisher = new IORedis(opts);
    this.subscriber = new IORedis(opts);
    await this.subscriber.subscribe(this.cancelChannel);
    this.subscriber.on('message', (_channel: string, id: string) => this.executor.abortLocal(id));
    for (const c of this.config.components) {
      const qe = new QueueEvents(c, { connection: opts, prefix: this.config.queue.prefix });
      const changed = ({ jobId }: { jobId: string }) => this.events.changed(jobId);
      qe.on('progress', changed);
      qe.on('active', changed);
      qe.on('completed', changed);
      qe.on('failed', changed);
      qe.on('error', (err) => this.logger.warn(`queue events ${c}: ${err.message}`));
      this.queueEvents.push(qe);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.queueEvents.map((q) => q.close()));
    this.subscriber?.disconnect();
    this.publisher?.disconnect();
  }
}

/** One BullMQ worker per suite queue, each a thin call into the shared executor. */
function processorFor(queue: Component) {
  @Processor(queue)
  class SuiteProcessor extends WorkerHost implements OnApplicationBootstrap {
    constructor(
      readonly executor: JobExecutor,
      @InjectConfig() readonly config: AppConfig,
    ) {
      super();
    }

    onApplicationBootstrap(): void {
      this.worker.concurrency = this.config.queue.concurrency[queue];
    }

    async process(job: Job<JobOf['data']>): Promise<string | undefined> {
      return this.executor.execute(
        { name: job.name as JobName, data: job.data },
        { onProgress: (report) => void job.updateProgress({ ...report }).catch(() => undefined) },
      );
    }
  }
  Object.defineProperty(SuiteProcessor, 'name', {
    value: `${queue[0]!.toUpperCase()}${queue.slice(1)}BullProcessor`,
  });
  return SuiteProcessor;
}

export const BULL_PROCESSORS = Object.fromEntries(COMPONENTS.map((c) => [c, processorFor(c)])) as Record<
  Component,
  ReturnType<typeof processorFor>
>;
