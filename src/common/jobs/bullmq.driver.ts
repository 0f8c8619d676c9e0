/**
 * The BullMQ driver (REDIS_URL set): jobs live in Redis, so API and worker processes can run on
 * different machines. Suites have one queue each, except backend-routed work (benchmarks), which
 * has one queue per backend set so that only workers offering those backends take it. Progress
 * goes through job.updateProgress; QueueEvents tells every API process about every update; cancel
 * is broadcast on a Redis channel to whichever worker runs the job.
 */
import { getQueueToken, Processor, WorkerHost } from '@nestjs/bullmq';
import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Job, Queue, QueueEvents } from 'bullmq';
import IORedis, { Redis } from 'ioredis';
import { once } from 'node:events';
import { CoreError, ErrorCode, errorMessage } from '../../../libs/core/src/errors';
import type { BackendName } from '../../../libs/core/src/types';
import { batchPerTurn } from '../batch-per-turn';
import { AppConfig, COMPONENTS } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { OperationEvents } from '../operations/operation-events';
import { JobExecutor } from './job-executor';
import { admit, JobQueue, ReleaseRoom } from './job-queue';
import { JobName, JobOf, JobPayload, queueFor, queuesFor } from './job.types';

/**
 * Reconnect delay of the request path's connections after the n-th failed attempt: quick, at most
 * 2 s, so that /health and enqueue recover soon after Redis is back (BullMQ's default backs off to
 * 20 s, which workers and queue events keep).
 */
export const redisRetryDelay = (times: number): number => Math.min(200 * times, 2000);

/**
 * Connection options for what waits on Redis for as long as it takes: workers (BullMQ requires
 * `maxRetriesPerRequest: null` for their blocking commands), queue events, the cancel subscriber.
 */
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

/**
 * Connection options for the request path (enqueue, cancel, the workers list, heartbeats, health):
 * while Redis is down a command fails at once instead of waiting in ioredis's offline queue, and
 * one that Redis does not answer (frozen, partitioned) fails after `timeoutMs`.
 */
export function failFastRedisOptions(
  url: string,
  timeoutMs: number,
): Omit<ReturnType<typeof redisOptions>, 'maxRetriesPerRequest'> & {
  retryStrategy: (times: number) => number;
  enableOfflineQueue: false;
  maxRetriesPerRequest: number;
  commandTimeout: number;
} {
  return {
    ...redisOptions(url),
    retryStrategy: redisRetryDelay,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: timeoutMs,
  };
}

/**
 * Runs one Redis call of the request path within `timeoutMs`; any failure (down, frozen, timed out)
 * becomes QUEUE_UNAVAILABLE (503). The fail-fast connection bounds the call already; the timer
 * bounds what BullMQ does around it.
 */
export async function withinRedisTimeout<T>(
  what: string,
  timeoutMs: number,
  work: () => Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    if (err instanceof CoreError) throw err;
    throw new CoreError(
      ErrorCode.QUEUE_UNAVAILABLE,
      `the job queue (Redis) is unavailable: ${what}: ${errorMessage(err)}`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Every queue any process may enqueue to: all suites, all backend sets. */
export const ALL_QUEUES = queuesFor(COMPONENTS, ['cpu', 'cuda', 'webgpu']);

/** How long a queue's waiting count from Redis is trusted before it is fetched again. */
const DEPTH_REFRESH_MS = 1000;

interface QueueDepth {
  base: number;
  added: number;
  reserved: number;
  /** When `base` was counted (0: never). */
  at: number;
  drainPerS?: number;
  refreshing?: Promise<void>;
}

@Injectable()
export class BullJobQueue extends JobQueue implements OnModuleInit, OnApplicationShutdown {
  readonly driver = 'bullmq' as const;
  private readonly logger = new Logger('BullJobQueue');
  private readonly queueEvents: QueueEvents[] = [];
  private publisher?: Redis;
  private subscriber?: Redis;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly executor: JobExecutor,
    @Inject(OperationEvents) private readonly events: OperationEvents,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    super();
  }

  queue(name: string): Queue {
    return this.moduleRef.get<Queue>(getQueueToken(name), { strict: false });
  }

  /**
   * Adds the job of an accepted operation. Jobs enqueued in the same turn of the event loop go to
   * Redis together, one addBulk (a single MULTI) per queue, the way the store commits their rows
   * together; each caller still hears back only once its job is in Redis.
   */
  enqueue<N extends JobName>(job: JobOf<N>): Promise<void> {
    const queue = queueFor(job.name, job.data.backends);
    let add = this.adders.get(queue);
    if (!add) {
      add = batchPerTurn(async (jobs: JobOf<JobName>[]) => {
        await this.redisCall('enqueue', () =>
          this.queue(queue).addBulk(
            jobs.map((j) => ({
              name: j.name,
              data: j.data,
              opts: {
                jobId: j.data.operationId,
                removeOnComplete: { count: 10_000 },
                removeOnFail: { count: 10_000 },
              },
            })),
          ),
        );
      });
      this.adders.set(queue, add);
    }
    return add(job as JobOf<JobName>);
  }

  private readonly adders = new Map<string, (job: JobOf<JobName>) => Promise<void>>();

  /** Per queue: waiting + delayed jobs as Redis last said, and what this process added since. */
  private readonly depths = new Map<string, QueueDepth>();

  /**
   * Admission against the queue's waiting + delayed count. Redis is asked at most once per
   * DEPTH_REFRESH_MS per queue, never on the request's path once a count is known (a stale count
   * is used while a fresh one is fetched); jobs this process adds are counted locally meanwhile.
   */
  async reserve(name: JobName, backends: BackendName[], count: number): Promise<ReleaseRoom> {
    const queue = queueFor(name, backends);
    let d = this.depths.get(queue);
    if (!d) {
      d = { base: 0, added: 0, reserved: 0, at: 0 };
      this.depths.set(queue, d);
    }
    if (Date.now() - d.at >= DEPTH_REFRESH_MS) {
      const refresh = (d.refreshing ??= this.refreshDepth(queue, d).finally(
        () => (d.refreshing = undefined),
      ));
      if (d.at === 0) {
        // The first count: nothing to go on yet.
        await refresh; // QUEUE_UNAVAILABLE (redisCall) when Redis does not answer
      } else refresh.catch(() => undefined);
    }
    admit(queue, d.base + d.added + d.reserved, count, this.config.queue.maxDepth, d.drainPerS);
    d.reserved += count;
    let held = true;
    return (enqueued: number) => {
      if (!held) return;
      held = false;
      d.reserved -= count;
      d.added += enqueued;
    };
  }

  private async refreshDepth(queue: string, d: QueueDepth): Promise<void> {
    const addedBefore = d.added;
    const startedAt = Date.now();
    const n = await this.redisCall('count waiting jobs', () =>
      this.queue(queue).getJobCountByTypes('waiting', 'delayed'),
    );
    if (d.at > 0) {
      // Jobs that left the queue since the last count: taken by workers (or removed).
      const drained = d.base + addedBefore - n;
      const dt = (startedAt - d.at) / 1000;
      d.drainPerS = drained > 0 && dt > 0 ? drained / dt : d.drainPerS;
    }
    d.base = n;
    d.added -= addedBefore;
    d.at = startedAt;
  }

  /**
   * Which of these jobs Redis still holds (in any state; one it lost after a restart is missing),
   * in one round trip per thousand: the reconciler asks about every quiet unfinished operation,
   * and a backlog can be thousands long.
   */
  async held(
    jobs: readonly { name: JobName; operationId: string; backends: BackendName[] }[],
  ): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < jobs.length; i += 1000) {
      const chunk = jobs.slice(i, i + 1000);
      const pipeline = this.redis.pipeline();
      for (const j of chunk) pipeline.exists(this.queue(queueFor(j.name, j.backends)).toKey(j.operationId));
      const replies = (await this.redisCall('find jobs', () => pipeline.exec())) ?? [];
      replies.forEach(([err, n], k) => {
        if (err) throw err;
        if (n === 1) found.add(chunk[k]!.operationId);
      });
    }
    return found;
  }

  async remove(name: JobName, operationId: string, backends: BackendName[]): Promise<boolean> {
    const job = await this.redisCall('find the job', () =>
      this.queue(queueFor(name, backends)).getJob(operationId),
    );
    if (!job) return false;
    const state = await this.redisCall('read the job state', () => job.getState());
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
    await this.redisCall('signal the cancel', () => this.redis.publish(this.cancelChannel, operationId));
  }

  async depth(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const counts = await this.redisCall('count waiting jobs', () =>
      Promise.all(ALL_QUEUES.map((name) => this.queue(name).getWaitingCount())),
    );
    ALL_QUEUES.forEach((name, i) => (out[name] = counts[i]!));
    return out;
  }

  override async ping(): Promise<void> {
    await this.redisCall('ping', () => this.redis.ping());
  }

  /** One Redis call of the request path, bounded by REDIS_TIMEOUT_MS (QUEUE_UNAVAILABLE past it). */
  redisCall<T>(what: string, work: () => Promise<T>): Promise<T> {
    return withinRedisTimeout(what, this.config.queue.redisTimeoutMs, work);
  }

  /** The (fail-fast) Redis connection for other shared state (worker heartbeats); see redisCall. */
  get redis(): Redis {
    return this.publisher!;
  }

  async onModuleInit(): Promise<void> {
    const opts = redisOptions(this.config.queue.redisUrl!);
    this.publisher = new IORedis(
      failFastRedisOptions(this.config.queue.redisUrl!, this.config.queue.redisTimeoutMs),
    );
    this.subscriber = new IORedis(opts);
    this.publisher.on('error', (err) => this.logger.warn(`redis: ${err.message}`));
    this.subscriber.on('error', (err) => this.logger.warn(`redis subscriber: ${err.message}`));
    // Without an offline queue the publisher takes commands only once connected (the subscriber
    // below waits for Redis as well: a process does not start without it).
    if (this.publisher.status !== 'ready') await once(this.publisher, 'ready');
    await this.subscriber.subscribe(this.cancelChannel);
    this.subscriber.on('message', (_channel: string, id: string) => this.executor.abortLocal(id));
    if (this.config.role === 'worker') return; // API processes fan updates out to WebSocket clients
    for (const name of ALL_QUEUES.filter((q) =>
      this.config.components.some((c) => q === c || q.startsWith(`${c}@`)),
    )) {
      const qe = new QueueEvents(name, { connection: opts, prefix: this.config.queue.prefix });
      const changed = ({ jobId }: { jobId: string }) => this.events.changed(jobId);
      qe.on('progress', changed);
      qe.on('active', changed);
      qe.on('completed', changed);
      qe.on('failed', changed);
      qe.on('error', (err) => this.logger.warn(`queue events ${name}: ${err.message}`));
      this.queueEvents.push(qe);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.queueEvents.map((q) => q.close()));
    this.subscriber?.disconnect();
    this.publisher?.disconnect();
  }
}

/**
 * One BullMQ worker per queue this process consumes, each a thin call into the shared executor.
 * A job whose worker died (its lock expired) is stalled and handed to another worker; BullMQ may do
 * that up to `maxAttempts` times, so that the executor, which counts the starts in the store, is
 * the one that ends a job started JOB_MAX_ATTEMPTS times as INTERRUPTED (BullMQ itself would fail
 * it with no word to the store, leaving the operation running forever).
 */
export function processorFor(
  queue: string,
  concurrency: number,
  lockDurationMs: number,
  maxAttempts: number,
  connection: ReturnType<typeof redisOptions>,
) {
  // The queue's own connection fails fast (request path); the worker's waits Redis out.
  @Processor(queue, {
    connection,
    lockDuration: lockDurationMs,
    stalledInterval: Math.max(1000, Math.floor(lockDurationMs / 2)),
    maxStalledCount: maxAttempts,
  })
  class SuiteProcessor extends WorkerHost implements OnApplicationBootstrap {
    constructor(readonly executor: JobExecutor) {
      super();
    }

    onApplicationBootstrap(): void {
      this.worker.concurrency = concurrency;
    }

    async process(job: Job<JobPayload>): Promise<string | undefined> {
      return this.executor.execute(
        { name: job.name as JobName, data: job.data },
        { onProgress: (report) => void job.updateProgress({ ...report }).catch(() => undefined) },
      );
    }
  }
  Object.defineProperty(SuiteProcessor, 'name', { value: `BullProcessor(${queue})` });
  return SuiteProcessor;
}
