/**
 * Operations in the store. Writes go to the database before they are acknowledged; the status of
 * operations this process touches is also kept in memory (write-through), so status reads are
 * cheap. With several processes (BullMQ) the memory copy is only trusted for operations this
 * process runs; others are read from the database.
 */
import { Logger } from '@nestjs/common';
import { Kysely, sql, SqlBool } from 'kysely';
import { OperationKind, OperationRecord, OperationStatus } from '../operations/operation.types';
import { type Database, type OperationsTable, storable, storeDialect } from './database';
import { batchPerTurn } from '../batch-per-turn';
import { logFields } from '../logging/operation-context';

export interface ListFilter {
  kind: OperationKind;
  status?: OperationStatus;
  model?: string;
  since?: string;
  /** Only operations whose request's `hardware` names this backend. */
  backend?: string;
  /** Only operations whose request's `tags` hold this tag (benchmark runs). */
  tag?: string;
  limit: number;
  cursor?: string;
}

/** `value` is an element of the JSON array at `key` of the stored request (text column). */
function requestArrayHas(db: Kysely<Database>, key: 'hardware' | 'tags', value: string) {
  return storeDialect(db) === 'postgres'
    ? sql<SqlBool>`(${sql.ref('request')}::jsonb -> ${key}) @> jsonb_build_array(${value}::text)`
    : sql<SqlBool>`exists (select 1 from json_each(${sql.ref('request')}, ${'$.' + key}) where value = ${value})`;
}

export interface ListPage {
  items: OperationRecord[];
  next_cursor: string | null;
}

type Row = OperationsTable & { attempts: number };

function toRecord(row: Row): OperationRecord {
  return {
    id: row.id,
    kind: row.kind as OperationKind,
    status: row.status as OperationStatus,
    model_name: row.model_name,
    request: JSON.parse(row.request) as Record<string, unknown>,
    progress: row.progress,
    current_step: row.current_step,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    error: row.error === null ? null : (JSON.parse(row.error) as OperationRecord['error']),
    attempts: row.attempts,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    updated_at: row.updated_at,
    deadline_at: row.deadline_at,
  };
}

function encodeCursor(op: OperationRecord): string {
  return Buffer.from(JSON.stringify([op.created_at, op.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string')
      return [v[0], v[1]];
  } catch {
    /* fall through */
  }
  return null;
}

export class InvalidCursorError extends Error {}

function insertRow(db: Kysely<Database>, op: OperationRecord): Promise<unknown> {
  return db
    .insertInto('operations')
    .values({
      id: op.id,
      kind: op.kind,
      status: op.status,
      model_name: op.model_name,
      request: JSON.stringify(op.request),
      progress: op.progress,
      current_step: op.current_step,
      result: op.result === null ? null : JSON.stringify(op.result),
      error: op.error === null ? null : JSON.stringify(op.error),
      attempts: op.attempts,
      created_at: op.created_at,
      started_at: op.started_at,
      finished_at: op.finished_at,
      updated_at: op.updated_at,
      deadline_at: op.deadline_at,
    })
    .execute();
}

export class OperationsRepository {
  private readonly logger = new Logger('Operations');
  private readonly cache = new Map<string, OperationRecord>();
  private static readonly CACHE_LIMIT = 20_000;

  constructor(
    private readonly db: Kysely<Database>,
    /** False when other processes also write operations (scale-out): read through to the database. */
    private readonly trustCache: boolean,
  ) {}

  private remember(op: OperationRecord): void {
    this.cache.delete(op.id);
    this.cache.set(op.id, op);
    if (this.cache.size > OperationsRepository.CACHE_LIMIT) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }

  /**
   * Stores a new operation; resolves once it is committed. Inserts that arrive in the same turn of
   * the event loop are committed together in one transaction (group commit): each commit costs a
   * WAL append on SQLite or a flush on PostgreSQL, and under load a burst of accepted runs then
   * pays for one. Every caller still hears back only after its own row is durable. If the batch
   * fails, each row is tried on its own, so one bad row fails only its own caller.
   */
  readonly insert: (op: OperationRecord) => Promise<void> = batchPerTurn(async (ops) => {
    const results = await this.insertAll(ops);
    ops.forEach((op, i) => {
      if (results[i] !== undefined) return;
      this.remember(op);
      this.logTransition(op, null);
    });
    return results;
  }, 500);

  /**
   * One log line per status change that landed (and per operation stored): the transitions of every
   * operation, whichever process or path made them, go through update() and insert().
   */
  private logTransition(op: OperationRecord, from: readonly OperationStatus[] | null): void {
    const fields: Record<string, unknown> = {
      operation_id: op.id,
      kind: op.kind,
      status: op.status,
      from: from === null ? null : from.length === 1 ? from[0] : from,
      attempts: op.attempts,
    };
    if (op.error?.code) fields.error_code = op.error.code;
    const what = from === null ? `stored ${op.status}` : `${from.join('|')} → ${op.status}`;
    const text = `${op.kind} ${op.id} ${what}${op.error?.code ? ` (${op.error.code})` : ''}`;
    if (op.status === 'failed' || op.status === 'timeout') this.logger.warn(text, logFields(fields));
    else this.logger.log(text, logFields(fields));
  }

  /** One transaction for the batch; if it fails, each row on its own. One entry per row: its error or undefined. */
  private async insertAll(ops: OperationRecord[]): Promise<unknown[]> {
    const rowByRow = () =>
      Promise.all(
        ops.map((op) =>
          insertRow(this.db, op).then(
            () => undefined,
            (err: unknown) => err ?? new Error('insert failed'),
          ),
        ),
      );
    if (ops.length === 1) return rowByRow();
    try {
      await this.db.transaction().execute(async (trx) => {
        for (const op of ops) await insertRow(trx, op);
      });
      return ops.map(() => undefined);
    } catch {
      return rowByRow();
    }
  }

  async get(id: string, fresh = false): Promise<OperationRecord | undefined> {
    if (this.trustCache && !fresh) {
      const hit = this.cache.get(id);
      if (hit) return hit;
    }
    if (!storable(id)) return undefined;
    const row = await this.db.selectFrom('operations').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const op = toRecord(row as Row);
    if (this.trustCache) this.remember(op);
    return op;
  }

  /**
   * Applies a change only when the operation is in one of `from` (a compare-and-set on status),
   * so a late progress report can never overwrite a terminal state. Returns the new record, or
   * undefined when the guard did not match. With `expect.attempts`, the change also needs the
   * operation to be at that attempt: a claim (or a final write) of one attempt of a job can never
   * land on another, even with several processes racing for it.
   */
  async update(
    id: string,
    from: readonly OperationStatus[],
    patch: Partial<Omit<OperationRecord, 'id' | 'kind' | 'request' | 'created_at'>>,
    expect: { attempts?: number } = {},
  ): Promise<OperationRecord | undefined> {
    // `status in ()` is an error on PostgreSQL (SQLite matches nothing): no status, no change.
    // An id no row can have (see storable) changes nothing either.
    if (from.length === 0 || !storable(id)) return undefined;
    const now = new Date().toISOString();
    const values: Record<string, unknown> = { updated_at: now };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      values[k] = k === 'result' || k === 'error' ? (v === null ? null : JSON.stringify(v)) : v;
    }
    let q = this.db
      .updateTable('operations')
      .set(values)
      .where('id', '=', id)
      .where('status', 'in', [...from]);
    if (expect.attempts !== undefined) q = q.where('attempts', '=', expect.attempts);
    const res = await q.executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) {
      this.cache.delete(id);
      return undefined;
    }
    const cached = this.trustCache ? this.cache.get(id) : undefined;
    if (cached) {
      const next = { ...cached, ...patch, updated_at: now } as OperationRecord;
      // A progress write that finishes after a newer live report (patchCached) must not move the
      // memory copy back: the newer report stays until its own write lands.
      if (patch.status === undefined && patch.progress !== undefined && cached.progress > patch.progress) {
        next.progress = cached.progress;
        next.current_step = cached.current_step;
      }
      this.remember(next);
      if (patch.status !== undefined) this.logTransition(next, from);
      return next;
    }
    const fresh = await this.get(id, true);
    if (fresh && patch.status !== undefined) this.logTransition(fresh, from);
    return fresh;
  }

  /** Updates only the in-memory copy (live progress between database writes). */
  patchCached(id: string, patch: Pick<OperationRecord, 'progress' | 'current_step'>): void {
    const cached = this.trustCache ? this.cache.get(id) : undefined;
    if (cached && (cached.status === 'queued' || cached.status === 'running')) {
      this.cache.set(id, { ...cached, ...patch });
    }
  }

  async list(filter: ListFilter): Promise<ListPage> {
    if (![filter.model, filter.since, filter.backend, filter.tag].every(storable))
      return { items: [], next_cursor: null };
    let q = this.db.selectFrom('operations').selectAll().where('kind', '=', filter.kind);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.model) q = q.where('model_name', '=', filter.model);
    if (filter.since) q = q.where('created_at', '>=', filter.since);
    if (filter.backend) q = q.where(requestArrayHas(this.db, 'hardware', filter.backend));
    if (filter.tag) q = q.where(requestArrayHas(this.db, 'tags', filter.tag));
    if (filter.cursor) {
      const c = decodeCursor(filter.cursor);
      if (!c || !storable(c[0]) || !storable(c[1]))
        throw new InvalidCursorError('cursor is not one this server issued');
      const [createdAt, id] = c;
      q = q.where((eb) =>
        eb.or([
          eb('created_at', '<', createdAt),
          eb.and([eb('created_at', '=', createdAt), eb('id', '<', id)]),
        ]),
      );
    }
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit + 1)
      .execute();
    const items = rows.slice(0, filter.limit).map((r) => toRecord(r as Row));
    const last = items[items.length - 1];
    return { items, next_cursor: rows.length > filter.limit && last ? encodeCursor(last) : null };
  }

  /** Operations left unfinished (embedded driver start-up, BullMQ reconciler), oldest first. */
  async findUnfinished(kinds: readonly OperationKind[]): Promise<OperationRecord[]> {
    if (kinds.length === 0) return [];
    const rows = await this.db
      .selectFrom('operations')
      .selectAll()
      .where('status', 'in', ['queued', 'running'])
      .where('kind', 'in', [...kinds])
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return rows.map((r) => toRecord(r as Row));
  }
}
