/**
 * The store: one Kysely query layer over SQLite (better-sqlite3, the default) or PostgreSQL (pg),
 * chosen in one place (createDatabase) from DATABASE_URL. The repositories write queries that mean
 * the same on both; where the schema must differ (autoincrement, float width, collation) the
 * migrations branch on the dialect.
 *
 * Both dialects keep timestamps as ISO-8601 strings (varchar): they order correctly as text, and
 * the list cursor compares them the same way on both. On PostgreSQL the key and timestamp columns
 * use the "C" collation, so ordering is bytewise whatever the database's locale (as on SQLite).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  ColumnDataType,
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  Expression,
  Generated,
  Kysely,
  Migration,
  MigrationProvider,
  Migrator,
  QueryResult,
  PostgresDialect,
  sql,
  SqliteDatabase,
  SqliteDialect,
  SqliteStatement,
  TransactionSettings,
} from 'kysely';
import { Pool } from 'pg';
import { CoreError, ErrorCode, errorMessage } from '../../../libs/core/src/errors';

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

export type StoreDialect = 'sqlite' | 'postgres';

type DataTypeExpression = ColumnDataType | Expression<unknown>;

interface ColumnTypes {
  /** A short key compared with < and ordered by (ids, timestamps). */
  key(length: number): DataTypeExpression;
  float: DataTypeExpression;
}

function columnTypes(dialect: StoreDialect): ColumnTypes {
  return dialect === 'postgres'
    ? { key: (n) => sql.raw(`varchar(${n}) collate "C"`), float: 'double precision' }
    : { key: (n) => `varchar(${n})` as const, float: 'real' };
}

/**
 * Migrations live in code so they travel with the build; each runs once, in order. The SQLite
 * statements are exactly those of the first release, so existing files need nothing new.
 */
export function migrationsFor(dialect: StoreDialect): Record<string, Migration> {
  const t = columnTypes(dialect);
  return {
    '0001_operations': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('operations')
          .ifNotExists()
          .addColumn('id', t.key(36), (c) => c.primaryKey())
          .addColumn('kind', 'varchar(16)', (c) => c.notNull())
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('model_name', 'text', (c) => c.notNull())
          .addColumn('request', 'text', (c) => c.notNull())
          .addColumn('progress', t.float, (c) => c.notNull().defaultTo(0))
          .addColumn('current_step', 'text')
          .addColumn('result', 'text')
          .addColumn('error', 'text')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', t.key(32), (c) => c.notNull())
          .addColumn('started_at', t.key(32))
          .addColumn('finished_at', t.key(32))
          .addColumn('updated_at', t.key(32), (c) => c.notNull())
          .addColumn('deadline_at', t.key(32))
          .execute();
        await db.schema
          .createIndex('operations_kind_created')
          .ifNotExists()
          .on('operations')
          .columns(['kind', 'created_at', 'id'])
          .execute();
        await db.schema
          .createIndex('operations_status')
          .ifNotExists()
          .on('operations')
          .column('status')
          .execute();
      },
    },
    '0002_benchmark_rows': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('benchmark_rows')
          .ifNotExists()
          .$call((b) =>
            dialect === 'postgres'
              ? b.addColumn('id', 'serial', (c) => c.primaryKey())
              : b.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement()),
          )
          .addColumn('run_id', t.key(36), (c) => c.notNull())
          .addColumn('model', 'text', (c) => c.notNull())
          .addColumn('model_cid', 'text')
          .addColumn('backend', 'varchar(16)', (c) => c.notNull())
          .addColumn('batch_size', 'integer', (c) => c.notNull())
          .addColumn('sequence_length', 'integer')
          .addColumn('status', 'varchar(16)', (c) => c.notNull())
          .addColumn('p50_ms', t.float)
          .addColumn('throughput', t.float)
          .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('created_at', t.key(32), (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('benchmark_rows_run')
          .ifNotExists()
          .on('benchmark_rows')
          .column('run_id')
          .execute();
        await db.schema
          .createIndex('benchmark_rows_model')
          .ifNotExists()
          .on('benchmark_rows')
          .columns(['model', 'created_at'])
          .execute();
      },
    },
  };
}

class InCodeMigrations implements MigrationProvider {
  constructor(private readonly dialect: StoreDialect) {}

  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(migrationsFor(this.dialect));
  }
}

export interface DatabaseOptions {
  /** DATABASE_URL: postgres://... or postgresql://... selects PostgreSQL; anything else SQLite. */
  url?: string;
  /** SQLite file path, or ':memory:' (used when url is not a PostgreSQL one). */
  sqlitePath: string;
  /**
   * PostgreSQL: the longest wait for a connection (also for a free one of the pool) and for a
   * query's answer; the server also cancels statements that run longer. Default 2000 ms.
   */
  timeoutMs?: number;
}

/** Node's network errors: the store cannot be reached. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** pg's own messages for a connection or an answer that did not come. */
const PG_OUTAGE =
  /timeout exceeded when trying to connect|Connection terminated|Query read timeout|not queryable|connection timeout/i;

/**
 * Whether a database error means the store is unavailable, not that the query was wrong: the
 * network (refused, reset, unreachable), pg's connection and read timeouts, PostgreSQL's connection
 * exceptions (SQLSTATE class 08), shutdown and cancelled statements (57P0x, 57014, statement_timeout),
 * too many connections (53300), and SQLite's locked, busy, I/O and full errors.
 */
export function isStoreOutage(err: unknown): boolean {
  // Duck-typed: errors made by Node itself (net) are not `instanceof Error` in every realm (Jest).
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    if (/^08/.test(code) || /^57P0/.test(code) || code === '57014' || code === '53300') return true;
    if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)/.test(code)) return true;
  }
  return typeof message === 'string' && PG_OUTAGE.test(message);
}

/** An outage of the store as STORE_UNAVAILABLE (503); any other error as it is. */
export function storeError(err: unknown): unknown {
  if (err instanceof CoreError || !isStoreOutage(err)) return err;
  const message = (err as { message?: unknown }).message;
  return new CoreError(
    ErrorCode.STORE_UNAVAILABLE,
    `the store is unavailable: ${typeof message === 'string' ? message : String(err)}`,
  );
}

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw storeError(err);
  }
}

/**
 * A connection whose query errors say STORE_UNAVAILABLE when the store is down, busy or does not
 * answer; the driver below hands the inner connection back to the dialect's own driver.
 */
class MappedConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return mapped(() => this.inner.executeQuery<R>(query));
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

const innerOf = (c: DatabaseConnection): DatabaseConnection => (c instanceof MappedConnection ? c.inner : c);

/** Every driver call of a dialect with its outage errors mapped (see storeError). */
class OutageMappingDriver implements Driver {
  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return mapped(() => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new MappedConnection(await mapped(() => this.inner.acquireConnection()));
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return mapped(() => this.inner.beginTransaction(innerOf(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return mapped(() => this.inner.commitTransaction(innerOf(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return mapped(() => this.inner.rollbackTransaction(innerOf(connection)));
  }

  savepoint(...[connection, ...rest]: Parameters<NonNullable<Driver['savepoint']>>): Promise<void> {
    return mapped(() => this.inner.savepoint!(innerOf(connection), ...rest));
  }

  rollbackToSavepoint(
    ...[connection, ...rest]: Parameters<NonNullable<Driver['rollbackToSavepoint']>>
  ): Promise<void> {
    return mapped(() => this.inner.rollbackToSavepoint!(innerOf(connection), ...rest));
  }

  releaseSavepoint(
    ...[connection, ...rest]: Parameters<NonNullable<Driver['releaseSavepoint']>>
  ): Promise<void> {
    return mapped(() => this.inner.releaseSavepoint!(innerOf(connection), ...rest));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(innerOf(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/** A dialect whose errors say STORE_UNAVAILABLE (503) when the store is down, busy or silent. */
function outageMapping(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new OutageMappingDriver(dialect.createDriver()),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  };
}

/**
 * Whether the store answers within `timeoutMs`; rejects (STORE_UNAVAILABLE) when it does not.
 * /health uses it, so a store that hangs never hangs the health check.
 */
export async function pingStore(db: Kysely<Database>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`.execute(db),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new CoreError(ErrorCode.STORE_UNAVAILABLE, `the store did not answer within ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    const mappedErr = storeError(err);
    throw mappedErr instanceof CoreError
      ? mappedErr
      : new CoreError(ErrorCode.STORE_UNAVAILABLE, `the store is unavailable: ${errorMessage(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Connections in the PostgreSQL pool, per process. */
export const POSTGRES_POOL_SIZE = 10;

export function dialectOf(options: Pick<DatabaseOptions, 'url'>): StoreDialect {
  return options.url !== undefined && /^postgres(ql)?:\/\//.test(options.url) ? 'postgres' : 'sqlite';
}

/** The dialect each database createDatabase made speaks (migrations need it). */
const DIALECTS = new WeakMap<Kysely<Database>, StoreDialect>();

/** Which dialect a database from createDatabase speaks. */
export function storeDialect(db: Kysely<Database>): StoreDialect {
  const dialect = DIALECTS.get(db);
  if (!dialect) throw new Error('storeDialect: this Kysely instance was not made by createDatabase');
  return dialect;
}

/**
 * better-sqlite3 for Kysely with its prepared statements kept by SQL text. Kysely prepares every
 * query anew; the store's queries are a small fixed set, so preparing each once takes SQLite's
 * parser off every request. Statements are reused only between queries: Kysely runs each to the
 * end synchronously (the store does not stream), so a statement is never busy when it is reused.
 */
export function cachingStatements(sqlite: SQLite.Database, limit = 256): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close: () => {
      statements.clear();
      sqlite.close();
    },
    prepare: (text: string): SqliteStatement => {
      let statement = statements.get(text);
      if (!statement) {
        statement = sqlite.prepare(text);
        statements.set(text, statement);
        if (statements.size > limit) statements.delete(statements.keys().next().value!);
      }
      return statement;
    },
  };
}

export function createDatabase(options: DatabaseOptions): Kysely<Database> {
  const dialect = dialectOf(options);
  let db: Kysely<Database>;
  if (dialect === 'postgres') {
    const timeoutMs = options.timeoutMs ?? 2000;
    const pool = new Pool({
      connectionString: options.url,
      max: POSTGRES_POOL_SIZE,
      // A store that is down or does not answer (frozen, partitioned) gives a 503 and health
      // "down" within the timeout instead of hanging the request: for a connection (pg-pool also
      // applies it to the wait for a free one), for a query's answer, and on the server's side
      // for a statement that runs too long.
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      statement_timeout: timeoutMs,
    });
    // An idle connection the server drops (restart, failover) emits 'error' on the pool; without a
    // listener that would crash the process. The next query gets a fresh connection or fails.
    pool.on('error', () => undefined);
    db = new Kysely<Database>({ dialect: outageMapping(new PostgresDialect({ pool })) });
  } else {
    if (options.sqlitePath !== ':memory:') mkdirSync(dirname(options.sqlitePath), { recursive: true });
    const sqlite = new SQLite(options.sqlitePath);
    // WAL + NORMAL: every committed write survives a process crash; readers never block the writer.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    // SQLITE_BUSY (another process held the write lock past busy_timeout) is a 503, not a 500.
    db = new Kysely<Database>({
      dialect: outageMapping(new SqliteDialect({ database: cachingStatements(sqlite) })),
    });
  }
  DIALECTS.set(db, dialect);
  return db;
}

/**
 * Whether a string can be a stored value. PostgreSQL text cannot hold U+0000 (a query that binds one
 * fails), and SQLite never receives one from this server, so a lookup by such a value matches
 * nothing on either: the repositories answer "none" without asking.
 */
export function storable(value: string | undefined): boolean {
  return value === undefined || !value.includes('\u0000');
}

/**
 * Runs the migrations not yet applied. Several processes may start at once on one store: Kysely
 * locks on PostgreSQL, but on SQLite two processes can both find a migration pending. The
 * migrations are idempotent (IF NOT EXISTS), so the loser's attempt fails on the bookkeeping row
 * and is simply retried, by which time it finds everything applied.
 */
export async function migrate(db: Kysely<Database>, dialect: StoreDialect = storeDialect(db)): Promise<void> {
  const migrator = new Migrator({ db, provider: new InCodeMigrations(dialect) });
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    const failed = results?.find((r) => r.status === 'Error');
    if (!error && !failed) return;
    if (attempt >= 20) {
      throw new Error(
        `database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
  }
}
