import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { Kysely } from 'kysely';
import { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { createDatabase, Database, migrate } from './database';
import { OperationsRepository } from './operations.repository';

export const DATABASE = Symbol('DATABASE');

/**
 * Kysely over SQLite (a file under DATA_DIR) or PostgreSQL (DATABASE_URL=postgres://...), migrated
 * before anything else uses it.
 */
@Global()
@Module({
  providers: [
    {
      provide: DATABASE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        const db = createDatabase(config.database);
        await migrate(db);
        return db;
      },
    },
    {
      provide: OperationsRepository,
      inject: [DATABASE, APP_CONFIG],
      useFactory: (db: Kysely<Database>, config: AppConfig) =>
        new OperationsRepository(db, config.queue.driver === 'embedded'),
    },
  ],
  exports: [DATABASE, OperationsRepository],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(DATABASE) private readonly db: Kysely<Database>) {}

  async onApplicationShutdown(): Promise<void> {
    await this.db.destroy();
  }
}
