import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Kysely } from 'kysely';
import { errorMessage } from '../libs/core/src/errors';
import { AppConfig } from './common/config/app-config';
import { InjectConfig } from './common/config/config.module';
import { errorBody, ErrorBody } from './common/errors/error-body';
import { JobQueue } from './common/jobs/job-queue';
import { type Database, pingStore } from './common/store/database';
import { DATABASE } from './common/store/store.module';
import { VERSION } from './common/version';

type Dependency = 'ok' | 'down';

export class HealthDto {
  /** `ok` when every dependency answers; `degraded` (with HTTP 503) when one does not. */
  status: 'ok' | 'degraded';
  version: string;
  uptime_s: number;
  queue_driver: string;
  components: string[];
  /** The operations store (SQLite or PostgreSQL). */
  store: Dependency;
  /** Redis, with the BullMQ driver (absent with the in-process queue). */
  queue?: Dependency;
}

/** A dependency down: 503 with DESIGN's error body, the health fields beside it. */
export type UnhealthyDto = HealthDto & ErrorBody;

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(DATABASE) private readonly db: Kysely<Database>,
    private readonly queue: JobQueue,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Asks each dependency once, all at once, each within its own timeout (DATABASE_TIMEOUT_MS,
   * REDIS_TIMEOUT_MS), so /health answers within that even when one hangs.
   */
  @Get()
  @ApiOkResponse({ type: HealthDto })
  @ApiServiceUnavailableResponse({
    description: 'A dependency is down: the error body and the health fields.',
  })
  async health(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthDto | UnhealthyDto> {
    const problems: string[] = [];
    const check = (what: string, probe: Promise<void>): Promise<Dependency> =>
      probe.then(
        () => 'ok' as const,
        (err: unknown) => {
          problems.push(`${what}: ${errorMessage(err)}`);
          return 'down' as const;
        },
      );
    const bullmq = this.queue.driver === 'bullmq';
    const [store, queue] = await Promise.all([
      check('store', pingStore(this.db, this.config.database.timeoutMs)),
      bullmq ? check('queue', this.queue.ping()) : Promise.resolve(undefined),
    ]);
    const health: HealthDto = {
      status: store === 'ok' && queue !== 'down' ? 'ok' : 'degraded',
      version: VERSION,
      uptime_s: Math.round(process.uptime()),
      queue_driver: this.queue.driver,
      components: this.config.components,
      store,
      ...(queue ? { queue } : {}),
    };
    if (health.status === 'ok') return health;
    const code = store === 'down' ? 'STORE_UNAVAILABLE' : 'QUEUE_UNAVAILABLE';
    void reply.status(503);
    return {
      ...errorBody(503, problems.join('; '), code, { store, ...(queue ? { queue } : {}) }),
      ...health,
    };
  }
}
