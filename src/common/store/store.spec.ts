/**
 * The store's queries on both dialects: SQLite (:memory:) and a real PostgreSQL database created
 * for this spec and dropped after it.
 *
 * PostgreSQL: TEST_POSTGRES_URL names a superuser connection (default postgres@127.0.0.1:5432).
 * - TEST_POSTGRES=required, or E2E_DATABASES / E2E_DATABASE naming postgres (CI): it must be
 *   reachable, else every PostgreSQL test fails with the reason.
 * - TEST_POSTGRES=off: the PostgreSQL tests are reported skipped, under a describe that says so.
 * - unset: run when reachable; when not, reported skipped under a describe naming the reason (so
 *   `npm test` works on a machine without PostgreSQL, and says what it did not test).
 */
import { spawnSync } from 'node:child_process';
import { Kysely } from 'kysely';
import type { BenchmarkResult } from '../../../libs/core/src/benchmark';
import { BenchmarkRepository } from '../../modules/benchmark/benchmark.repository';
import type { OperationRecord } from '../operations/operation.types';
import SQLite from 'better-sqlite3';
import {
  cachingStatements,
  createDatabase,
  Database,
  dialectOf,
  migrate,
  StoreDialect,
  storeDialect,
} from './database';
import { InvalidCursorError, OperationsRepository } from './operations.repository';
import { createScratchDatabase, DEFAULT_POSTGRES_ADMIN_URL, ScratchDatabase } from './scratch-postgres';

jest.setTimeout(30_000);

const ADMIN_URL = process.env.TEST_POSTGRES_URL || DEFAULT_POSTGRES_ADMIN_URL;
const PG_MODE = process.env.TEST_POSTGRES ?? '';
if (!['', 'required', 'off'].includes(PG_MODE)) {
  throw new Error(`TEST_POSTGRES must be "required" or "off" (or unset), got "${PG_MODE}"`);
}
const PG_REQUIRED =
  PG_MODE === 'required' ||
  (process.env.E2E_DATABASES ?? '').split(',').includes('postgres') ||
  process.env.E2E_DATABASE === 'postgres';

/** Why PostgreSQL cannot be used, or null. Synchronous: Jest collects tests synchronously. */
function postgresProblem(): string | null {
  const script = `
    const { Client } = require(${JSON.stringify(require.resolve('pg'))});
    const c = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 5000 });
    c.connect().then(() => c.query('select 1')).then(() => c.end()).then(
      () => process.exit(0),
      (e) => { process.stderr.write(String(e && e.message || e)); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script, ADMIN_URL], { encoding: 'utf8', timeout: 15_000 });
  if (r.status === 0) return null;
  return r.stderr.trim() || r.error?.message || `probe exited ${String(r.status ?? r.signal)}`;
}

interface Target {
  dialect: StoreDialect;
  open(): Promise<{ db: Kysely<Database>; close(): Promise<void> }>;
}

const SQLITE: Target = {
  dialect: 'sqlite',
  open() {
    const db = createDatabase({ sqlitePath: ':memory:' });
    return Promise.resolve({ db, close: () => db.destroy() });
  },
};

const POSTGRES: Target = {
  dialect: 'postgres',
  async open() {
    let scratch: ScratchDatabase;
    try {
      scratch = await createScratchDatabase(ADMIN_URL, 'store_spec');
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\n` +
          'This spec needs PostgreSQL: start it, point TEST_POSTGRES_URL at one, or set TEST_POSTGRES=off.',
      );
    }
    const db = createDatabase({ url: scratch.url, sqlitePath: '/nonexistent/unused.sqlite' });
    return {
      db,
      async close() {
        await db.destroy();
        await scratch.drop();
      },
    };
  },
};

function skipReason(): string | null {
  if (PG_MODE === 'off') return 'TEST_POSTGRES=off';
  if (PG_REQUIRED) return null;
  const problem = postgresProblem();
  return problem && `PostgreSQL unreachable at ${ADMIN_URL}: ${problem}`;
}
const SKIP_REASON = skipReason();

const T0 = '2026-01-02T03:04:05.000Z';
const at = (ms: number): string => new Date(Date.parse(T0) + ms).toISOString();

function op(over: Partial<OperationRecord> & Pick<OperationRecord, 'id'>): OperationRecord {
  return {
    kind: 'test',
    status: 'queued',
    model_name: 'bert',
    request: { model_name: 'bert', nested: { list: [1, 2.5, 'ü €'], none: null } },
    progress: 0,
    current_step: null,
    result: null,
    error: null,
    attempts: 0,
    created_at: T0,
    started_at: null,
    finished_at: null,
    updated_at: T0,
    deadline_at: null,
    ...over,
  };
}

function benchmarkResult(
  completedAt: string,
  configs: Array<{
    model: string;
    backend: 'cpu' | 'cuda' | 'webgpu';
    p50: number | null;
    seq: number | null;
  }>,
): BenchmarkResult {
  return {
    completed_at: completedAt,
    configurations: configs.map((c, index) => ({
      index,
      label: `${c.model}/${c.backend}/b1`,
      model: c.model,
      backend: c.backend,
      batch_size: 1,
      sequence_length: c.seq,
      status: c.p50 === null ? 'skipped' : 'ok',
      stats: c.p50 === null ? null : { p50: c.p50 },
      throughput_items_per_sec: c.p50 === null ? null : 1000 / c.p50,
      load_ms: 12.5,
    })),
  } as unknown as BenchmarkResult;
}

function storeSpecs(target: Target): void {
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  /** Reads every time from the database (as with BullMQ); `cached` trusts its memory copy. */
  let repo: OperationsRepository;
  let cached: OperationsRepository;

  beforeAll(async () => {
    ({ db, close } = await target.open());
    await migrate(db);
    repo = new OperationsRepository(db, false);
    cached = new OperationsRepository(db, true);
  });
  afterAll(async () => {
    await close?.();
  });
  beforeEach(async () => {
    await db.deleteFrom('operations').execute();
    await db.deleteFrom('benchmark_rows').execute();
  });

  it('speaks its dialect, and migrating again changes nothing', async () => {
    expect(storeDialect(db)).toBe(target.dialect);
    await migrate(db);
    const tables = (await db.introspection.getTables()).map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(['operations', 'benchmark_rows']));
  });

  it('stores an operation and reads it back exactly (JSON, floats, nulls, unicode)', async () => {
    const record = op({
      id: 'op-1',
      progress: 0.1,
      current_step: 'loading ✓',
      error: { code: 'X', message: "it's 100% \\ done", details: { a: [1] } },
      deadline_at: at(60_000),
    });
    await repo.insert(record);
    const back = await repo.get('op-1', true);
    expect(back).toEqual(record);
    expect(back?.progress).toBe(0.1);
    expect(typeof back?.attempts).toBe('number');
    expect(await repo.get('missing')).toBeUndefined();
    // U+0000 cannot be stored in PostgreSQL text: such an id is simply not found, on both.
    expect(await repo.get('op-1\u0000', true)).toBeUndefined();
    expect(await repo.update('op-1\u0000', ['queued'], { progress: 1 })).toBeUndefined();
    // The same id twice is refused by the primary key, and the stored row is unchanged.
    const again = await repo.insert({ ...record, model_name: 'other' }).then(
      () => 'accepted',
      (err: Error) => err.message,
    );
    expect(again).toMatch(/unique|duplicate|primary key/i);
    expect((await repo.get('op-1', true))?.model_name).toBe(record.model_name);
  });

  it('commits a burst of inserts together, and a bad row in the burst fails only its own caller', async () => {
    await repo.insert(op({ id: 'taken' }));
    const ids = Array.from({ length: 60 }, (_, i) => `burst-${i}`);
    // All issued in one turn of the event loop: one group commit (with a retry row by row).
    const outcomes = await Promise.all(
      [...ids, 'taken'].map((id) =>
        repo.insert(op({ id, model_name: `m-${id}` })).then(
          () => 'stored',
          (err: Error) => err.message,
        ),
      ),
    );
    expect(outcomes.slice(0, ids.length)).toEqual(ids.map(() => 'stored'));
    expect(outcomes[ids.length]).toMatch(/unique|duplicate|primary key/i);
    for (const id of ids) expect((await repo.get(id, true))?.model_name).toBe(`m-${id}`);
    expect((await repo.get('taken', true))?.model_name).not.toBe('m-taken');
    // And the batch without a bad row goes through in one piece.
    await Promise.all(['a', 'b', 'c'].map((id) => cached.insert(op({ id: `clean-${id}` }))));
    for (const id of ['a', 'b', 'c']) expect(await cached.get(`clean-${id}`, true)).toBeDefined();
  });

  it('updates only from the given statuses (compare-and-set), and never past a terminal state', async () => {
    await repo.insert(op({ id: 'cas' }));
    const running = await repo.update('cas', ['queued'], {
      status: 'running',
      started_at: at(1),
      attempts: 1,
    });
    expect(running).toMatchObject({ id: 'cas', status: 'running', started_at: at(1), attempts: 1 });
    expect((running?.updated_at ?? '') > T0).toBe(true);

    // A second start loses the race: the guard no longer matches.
    expect(await repo.update('cas', ['queued'], { status: 'running' })).toBeUndefined();

    const done = await repo.update('cas', ['queued', 'running'], {
      status: 'completed',
      progress: 1,
      result: { latency_ms: 1.5, ok: true },
      finished_at: at(2),
    });
    expect(done).toMatchObject({ status: 'completed', progress: 1, result: { latency_ms: 1.5, ok: true } });

    // A late progress report after the end changes nothing.
    expect(
      await repo.update('cas', ['queued', 'running'], { progress: 0.5, current_step: 'late' }),
    ).toBeUndefined();
    expect(await repo.update('cas', [], { progress: 0.5 })).toBeUndefined();
    expect(await repo.update('nope', ['queued'], { progress: 0.5 })).toBeUndefined();
    expect(await repo.get('cas', true)).toMatchObject({
      status: 'completed',
      progress: 1,
      current_step: null,
      result: { latency_ms: 1.5, ok: true },
      finished_at: at(2),
    });
  });

  it('keeps the memory copy in step with the database when it trusts it', async () => {
    await cached.insert(op({ id: 'mem' }));
    cached.patchCached('mem', { progress: 0.25, current_step: 'warmup' });
    expect(await cached.get('mem')).toMatchObject({ progress: 0.25, current_step: 'warmup' });
    expect(await cached.get('mem', true)).toMatchObject({ progress: 0, current_step: null });
    const failed = await cached.update('mem', ['queued'], {
      status: 'failed',
      error: { code: 'E', message: 'm' },
    });
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'E', message: 'm' } });
    expect(await repo.get('mem')).toMatchObject({ status: 'failed', error: { code: 'E', message: 'm' } });
  });

  it('lists newest first with filters, and pages with a cursor that survives equal timestamps', async () => {
    // Ids in mixed case: the order must be bytewise ('B' < 'a'), as on SQLite, whatever the locale.
    const rows = [
      op({ id: 'a-1', created_at: at(0) }),
      op({ id: 'B-2', created_at: at(1000), status: 'running', model_name: 'gpt2' }),
      op({ id: 'c-3', created_at: at(1000), status: 'completed' }),
      op({ id: 'C-4', created_at: at(1000) }),
      op({ id: 'd-5', created_at: at(2000), model_name: 'gpt2' }),
      op({ id: 'e-6', created_at: at(3000), status: 'failed' }),
      op({ id: 'f-7', created_at: at(3000), kind: 'benchmark' }),
    ];
    for (const r of rows) await repo.insert(r);
    const expected = rows
      .filter((r) => r.kind === 'test')
      .sort((x, y) =>
        x.created_at !== y.created_at ? (x.created_at < y.created_at ? 1 : -1) : x.id < y.id ? 1 : -1,
      )
      .map((r) => r.id);
    expect(expected).toEqual(['e-6', 'd-5', 'c-3', 'C-4', 'B-2', 'a-1']);

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await repo.list({ kind: 'test', limit: 2, cursor });
      seen.push(...res.items.map((i) => i.id));
      if (!res.next_cursor) break;
      cursor = res.next_cursor;
    }
    expect(seen).toEqual(expected);

    const ids = async (f: Partial<Parameters<OperationsRepository['list']>[0]>): Promise<string[]> =>
      (await repo.list({ kind: 'test', limit: 50, ...f })).items.map((i) => i.id);
    expect(await ids({ status: 'queued' })).toEqual(['d-5', 'C-4', 'a-1']);
    expect(await ids({ model: 'gpt2' })).toEqual(['d-5', 'B-2']);
    expect(await ids({ since: at(1000) })).toEqual(['e-6', 'd-5', 'c-3', 'C-4', 'B-2']);
    expect(await ids({ kind: 'benchmark' })).toEqual(['f-7']);
    expect(await ids({ model: 'gpt%' })).toEqual([]);
    expect(await ids({ model: 'gpt2\u0000' })).toEqual([]);
    const nulCursor = Buffer.from(JSON.stringify([at(1000), 'C\u0000'])).toString('base64url');
    await expect(repo.list({ kind: 'test', limit: 2, cursor: nulCursor })).rejects.toThrow(
      InvalidCursorError,
    );
    const full = await repo.list({ kind: 'test', limit: 6 });
    expect(full.next_cursor).toBeNull();
    expect(full.items[0]).toEqual(rows[5]);
    await expect(repo.list({ kind: 'test', limit: 2, cursor: 'not-a-cursor' })).rejects.toThrow(
      InvalidCursorError,
    );
  });

  it('filters by a backend of the request hardware and by a tag, exactly', async () => {
    const rows = [
      op({ id: 'bk-1', kind: 'benchmark', request: { hardware: ['cpu'], tags: ['nightly', 'a%b'] } }),
      op({
        id: 'bk-2',
        kind: 'benchmark',
        created_at: at(1),
        request: { hardware: ['cpu', 'webgpu'], tags: [] },
      }),
      // "webgpu" as a tag or model name is no backend; "nightly2" is not "nightly".
      op({
        id: 'bk-3',
        kind: 'benchmark',
        created_at: at(2),
        request: { hardware: ['cuda'], tags: ['webgpu', 'nightly2'] },
      }),
    ];
    for (const r of rows) await repo.insert(r);
    const ids = async (f: Partial<Parameters<OperationsRepository['list']>[0]>): Promise<string[]> =>
      (await repo.list({ kind: 'benchmark', limit: 50, ...f })).items
        .map((i) => i.id)
        .filter((id) => id.startsWith('bk-'));
    expect(await ids({ backend: 'webgpu' })).toEqual(['bk-2']);
    expect(await ids({ backend: 'cpu' })).toEqual(['bk-2', 'bk-1']);
    expect(await ids({ tag: 'nightly' })).toEqual(['bk-1']);
    expect(await ids({ tag: 'a%b' })).toEqual(['bk-1']);
    expect(await ids({ tag: 'a_b' })).toEqual([]);
    expect(await ids({ tag: 'webgpu', backend: 'cuda' })).toEqual(['bk-3']);
    expect(await ids({ tag: 'x\u0000' })).toEqual([]);
  });

  it('finds the operations an earlier process left queued or running', async () => {
    await repo.insert(op({ id: 'q', status: 'queued' }));
    await repo.insert(op({ id: 'r', status: 'running', kind: 'generator' }));
    await repo.insert(op({ id: 'done', status: 'completed' }));
    await repo.insert(op({ id: 'other', status: 'running', kind: 'benchmark' }));
    const found = await repo.findUnfinished(['test', 'generator']);
    expect(found.map((o) => o.id).sort()).toEqual(['q', 'r']);
    expect(found.find((o) => o.id === 'q')).toEqual(op({ id: 'q', status: 'queued' }));
    expect(await repo.findUnfinished([])).toEqual([]);
  });

  it('keeps benchmark rows per configuration, filtered by model, backend, since and exact tag', async () => {
    const bench = new BenchmarkRepository(db);
    await bench.saveRun(
      'run-1',
      benchmarkResult(at(0), [
        { model: 'bert', backend: 'cpu', p50: 1.25, seq: 8 },
        { model: 'bert', backend: 'cuda', p50: null, seq: null },
      ]),
      ['e2e', 'a_b'],
      { bert: 'bafy-bert' },
    );
    await bench.saveRun(
      'run-2',
      benchmarkResult(at(5000), [{ model: 'gpt2', backend: 'cpu', p50: 2, seq: 16 }]),
      ['E2E', '100%', 'back\\slash', 'say "hi"'],
      {},
    );
    await bench.saveRun('run-3', benchmarkResult(at(6000), []), ['e2e'], {});

    const all = await bench.list({ limit: 10 });
    expect(all.map((r) => [r.run_id, r.backend])).toEqual([
      ['run-2', 'cpu'],
      ['run-1', 'cpu'],
      ['run-1', 'cuda'],
    ]);
    expect(all[1]).toEqual({
      run_id: 'run-1',
      model: 'bert',
      model_cid: 'bafy-bert',
      backend: 'cpu',
      batch_size: 1,
      sequence_length: 8,
      status: 'ok',
      p50_ms: 1.25,
      throughput: 800,
      tags: ['e2e', 'a_b'],
      created_at: at(0),
    });
    expect(all[2]).toMatchObject({ sequence_length: null, p50_ms: null, throughput: null });
    expect(all[0].model_cid).toBeNull();

    const runs = async (f: Omit<Parameters<BenchmarkRepository['list']>[0], 'limit'>): Promise<string[]> =>
      (await bench.list({ limit: 10, ...f })).map((r) => `${r.run_id}/${r.backend}`);
    expect(await runs({ model: 'bert', backend: 'cpu' })).toEqual(['run-1/cpu']);
    expect(await runs({ since: at(1) })).toEqual(['run-2/cpu']);
    // Tags match exactly: case-sensitive, wildcards and backslashes literal, no partial words.
    expect(await runs({ tag: 'e2e' })).toEqual(['run-1/cpu', 'run-1/cuda']);
    expect(await runs({ tag: 'E2E' })).toEqual(['run-2/cpu']);
    expect(await runs({ tag: 'a_b' })).toEqual(['run-1/cpu', 'run-1/cuda']);
    expect(await runs({ tag: 'aXb' })).toEqual([]);
    expect(await runs({ tag: '100%' })).toEqual(['run-2/cpu']);
    expect(await runs({ tag: '100' })).toEqual([]);
    expect(await runs({ tag: '%' })).toEqual([]);
    expect(await runs({ tag: 'back\\slash' })).toEqual(['run-2/cpu']);
    expect(await runs({ tag: 'say "hi"' })).toEqual(['run-2/cpu']);
    expect(await runs({ tag: 'e' })).toEqual([]);
    expect(await runs({ tag: 'e2e\u0000' })).toEqual([]);
    expect(await runs({ model: 'bert\u0000' })).toEqual([]);
    expect(await bench.list({ limit: 1 })).toHaveLength(1);
  });
}

describe('DATABASE_URL picks the dialect', () => {
  it.each([
    [undefined, 'sqlite'],
    ['sqlite:/tmp/x.sqlite', 'sqlite'],
    ['postgres://u@h:5432/db', 'postgres'],
    ['postgresql://u:p@h/db?sslmode=disable', 'postgres'],
  ] as const)('%s → %s', (url, dialect) => {
    expect(dialectOf({ url })).toBe(dialect);
  });
});

describe('SQLite prepared statements', () => {
  it('prepares each SQL text once, keeps results right across schema changes, and evicts the oldest', () => {
    const sqlite = new SQLite(':memory:');
    const db = cachingStatements(sqlite, 3);
    const prepared: string[] = [];
    const prepare = sqlite.prepare.bind(sqlite);
    sqlite.prepare = ((text: string) => {
      prepared.push(text);
      return prepare(text);
    }) as typeof sqlite.prepare;
    db.prepare('CREATE TABLE t (a INTEGER)').run([]);
    const insert = db.prepare('INSERT INTO t (a) VALUES (?)');
    insert.run([1]);
    expect(db.prepare('INSERT INTO t (a) VALUES (?)')).toBe(insert);
    db.prepare('INSERT INTO t (a) VALUES (?)').run([2]);
    expect(db.prepare('SELECT a FROM t ORDER BY a').all([])).toEqual([{ a: 1 }, { a: 2 }]);
    db.prepare('ALTER TABLE t ADD COLUMN b TEXT').run([]);
    db.prepare('INSERT INTO t (a) VALUES (?)').run([3]); // re-prepared by SQLite itself, same object
    expect(db.prepare('SELECT a FROM t ORDER BY a').all([])).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(prepared.filter((p) => p.startsWith('INSERT'))).toHaveLength(1);
    // Over the limit of 3 the oldest texts go: three new ones push the INSERT out.
    for (const text of ['SELECT 1', 'SELECT 2', 'SELECT 3']) db.prepare(text);
    expect(db.prepare('INSERT INTO t (a) VALUES (?)')).not.toBe(insert);
    expect(prepared.filter((p) => p.startsWith('INSERT'))).toHaveLength(2);
    db.close();
    expect(sqlite.open).toBe(false);
  });
});

describe('store on SQLite (:memory:)', () => storeSpecs(SQLITE));

if (SKIP_REASON === null) {
  describe(`store on PostgreSQL (${ADMIN_URL}, a scratch database)`, () => storeSpecs(POSTGRES));
} else {
  describe(`store on PostgreSQL: SKIPPED (${SKIP_REASON}; TEST_POSTGRES=required makes this fail)`, () => {
    it.skip('runs every store test on PostgreSQL', () => undefined);
  });
}
