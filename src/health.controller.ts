import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Kysely, sql } from 'kysely';
import { AppConfig } from './common/config/app-config';
import { InjectConfig } from './common/config/config.module';
import { JobQueue } from './common/jobs/job-queue';
import type { Database } from './common/store/database';
import { DATABASE } from './common/store/store.module';
import { VERSION } from './common/version';

export class HealthDto {
  status: 'ok' | 'degraded';
  version: string;
  uptime_s: number;
  queue_driver: string;
  components: string[];
  store: 'ok' | 'down';
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @Inject(DATABASE) private readonly db: Kysely<Database>,
    private readonly queue: JobQueue,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOkResponse({ type: HealthDto })
  async health(): Promise<HealthDto> {
    let store: 'ok' | 'down' = 'ok';
    try {
      await sql`select 1`.execute(this.db);
    } catch {
      store = 'down';
    }
    return {
      status: store === 'ok' ? 'ok' : 'degraded',
      version: VERSION,
      uptime_s: Math.round(process.uptime()),
      queue_driver: this.queue.driver,
      components: this.config.components,
      store,
    };
  }
}
