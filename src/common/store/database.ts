/**
 * The store: one Kysely query layer. SQLite (better-sqlite3) by default; the dialect is chosen in
 * one place (createDatabase) so PostgreSQL plugs in without touching the repositories.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Generated, Kysely, Migration, MigrationProvider, Migrator, SqliteDialect } from 'kysely';

export interface OperationsTable {
  id: string;
  kind: string;
  status: string;
  model_name: string;
  request: string;
  progress: number;
  current_step: string | null;
  result: string | null;
  error: string | null;
  attempts: Generated<number>;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  deadline_at: string | null;
}

export interface BenchmarkRowsTable {
  id: Generated<number>;
  run_id: string;
  model: string;
  model_cid: string | null;
  backend: string;
  batch_size: number;
  sequence_length: number | null;
  status: string;
  p50_ms: number | null;
  throughput: number | null;
  tags: string;
  created_at: string;
  data: string;
}

export interface Database {
  operations: OperationsTable;
  benchmark_rows: BenchmarkRowsTable;
}

/** Migrations live in code so they travel with the build; each runs once, in order. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_operations': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('operations')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('model_name', 'text', (c) => c.notNull())
        .addColumn('request', 'text', (c) => c.notNull())
        .addColumn('progress', 'real', (c) => c.notNull().defaultTo(0))
        .addColumn('current_step', 'text')
        .addColumn('result', 'text')
        .addColumn('error', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('started_at', 'varchar(32)')
        .addColumn('finished_at', 'varchar(32)')
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('deadline_at', 'varchar(32)')
        .execute();
      await db.schema
        .createIndex('operations_kind_created')
        .on('operations')
        .columns(['kind', 'created_at', 'id'])
        .execute();
      await db.schema.createIndex('operations_status').on('operations').column('status').execute();
    },
  },
  '0002_benchmark_rows': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('benchmark_rows')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('run_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('model_cid', 'text')
        .addColumn('backend', 'varchar(16)', (c) => c.notNull())
        .addColumn('batch_size', 'integer', (c) => c.notNull())
        .addColumn('sequence_length', 'integer')
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('p50_ms', 'real')
        .addColumn('throughput', 'real')
        .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('benchmark_rows_run').on('benchmark_rows').column('run_id').execute();
      await db.schema
        .createIndex('benchmark_rows_model')
        .on('benchmark_rows')
        .columns(['model', 'created_at'])
        .execute();
    },
  },
};

class InCodeMigrations implements MigrationProvider {
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(MIGRATIONS);
  }
}

export interface DatabaseOptions {
  /** SQLite file path, or ':memory:'. */
  sqlitePath: string;
}

export function createDatabase(options: DatabaseOptions): Kysely<Database> {
  if (options.sqlitePath !== ':memory:') mkdirSync(dirname(options.sqlitePath), { recursive: true });
  const sqlite = new SQLite(options.sqlitePath);
  // WAL + NORMAL: every committed write survives a process crash; readers never block the writer.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

export async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: new InCodeMigrations() });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(
      `database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`,
    );
  }
}
