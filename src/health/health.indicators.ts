/**
 * The dependencies /health asks, as @nestjs/terminus indicators: the operations store (SQLite or
 * PostgreSQL) and, with the BullMQ driver, Redis. Each is one attempt within the dependency's own
 * timeout (DATABASE_TIMEOUT_MS, REDIS_TIMEOUT_MS, applied by pingStore and the queue's ping), so a
 * hung dependency answers `down` in time instead of holding the probe.
 */
import { Inject, Injectable, Logger, LoggerService } from '@nestjs/common';
import { HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { Kysely } from 'kysely';
import { AppConfig } from '../common/config/app-config';
import { InjectConfig } from '../common/config/config.module';
import { JobQueue } from '../common/jobs/job-queue';
import { type Database, pingStore } from '../common/store/database';
import { DATABASE } from '../common/store/store.module';

@Injectable()
export class StoreHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(DATABASE) private readonly db: Kysely<Database>,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  check(): PromiseLike<HealthIndicatorResult<'store'>> {
    return this.indicators.check('store').attempt(() => pingStore(this.db, this.config.database.timeoutMs));
  }
}

@Injectable()
export class QueueHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly queue: JobQueue,
  ) {}

  /** Whether the queue has a service to ask (Redis with BullMQ; nothing with the in-process queue). */
  get external(): boolean {
    return this.queue.driver === 'bullmq';
  }

  check(): PromiseLike<HealthIndicatorResult<'queue'>> {
    return this.indicators.check('queue').attempt(() => this.queue.ping());
  }
}

/**
 * Terminus logs a failed check with `error`; a dependency down is an outage the store and queue
 * report themselves, and /health is polled, so here it is one warning per probe, through the app's
 * (JSON) logger.
 */
@Injectable()
export class HealthCheckLogger implements LoggerService {
  private readonly logger = new Logger('HealthCheck');
  log(message: unknown): void {
    this.logger.log(message);
  }
  error(message: unknown): void {
    this.logger.warn(message);
  }
  warn(message: unknown): void {
    this.logger.warn(message);
  }
}
