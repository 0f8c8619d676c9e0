/**
 * What an earlier embedded process left unfinished, at the next start: queued operations run in
 * their order, running ones run again once (attempts 2) or end failed INTERRUPTED when they already
 * had their retry; other suites' operations (a sibling process's) are left alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/bootstrap';
import { loadConfig } from '../src/common/config/app-config';
import { newOperationId } from '../src/common/operations/operations.service';
import { createDatabase, migrate } from '../src/common/store/database';
import { json, provisionDatabase, waitFor } from './app';
import { HF_TINY } from './fixtures';

jest.setTimeout(180_000);

const REQUEST = {
  model_name: 'bert',
  hardware: ['cpu'],
  test_type: 'basic',
  timeout: 300,
  save_results: false,
};

it('runs queued operations in order, retries running ones once, and interrupts those that had their retry', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipfs-accel-interrupted-'));
  const store = await provisionDatabase();
  try {
    const config = loadConfig({
      DATA_DIR: dataDir,
      MODEL_ROOTS: HF_TINY,
      HARDWARE: 'cpu',
      LOG_LEVEL: 'silent',
      COMPONENTS: 'test,benchmark',
      TEST_CONCURRENCY: '1',
      ...store.env,
    });
    // What a killed process leaves behind: rows in the real store (SQLite file or PostgreSQL).
    const db = createDatabase(config.database);
    await migrate(db);
    const t0 = Date.now() - 60_000;
    const rows: Array<{ key: string; kind: string; status: string; attempts: number }> = [
      { key: 'retried', kind: 'test', status: 'running', attempts: 1 },
      { key: 'spent', kind: 'test', status: 'running', attempts: 2 },
      { key: 'q1', kind: 'test', status: 'queued', attempts: 0 },
      { key: 'q2', kind: 'test', status: 'queued', attempts: 0 },
      { key: 'q3', kind: 'test', status: 'queued', attempts: 0 },
      { key: 'done', kind: 'test', status: 'completed', attempts: 1 },
      // A sibling process serving the generator suite owns this one: not ours to touch.
      { key: 'sibling', kind: 'generator', status: 'running', attempts: 1 },
    ];
    const ids: Record<string, string> = {};
    for (const [i, row] of rows.entries()) {
      ids[row.key] = newOperationId();
      const at = new Date(t0 + i * 10).toISOString();
      await db
        .insertInto('operations')
        .values({
          id: ids[row.key]!,
          kind: row.kind,
          status: row.status,
          model_name: 'bert',
          request: JSON.stringify(REQUEST),
          progress: row.status === 'completed' ? 1 : row.status === 'running' ? 0.5 : 0,
          current_step: row.status,
          result: row.status === 'completed' ? '{}' : null,
          error: null,
          attempts: row.attempts,
          created_at: at,
          started_at: row.status === 'queued' ? null : at,
          finished_at: row.status === 'completed' ? at : null,
          updated_at: at,
          deadline_at: null,
        })
        .execute();
    }
    await db.destroy();

    const app = await createApp(config);
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    try {
      const status = (key: string) => waitFor(`${url}/api/test/status/${ids[key]}`);
      const spent = await status('spent');
      expect(spent).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'INTERRUPTED' } });

      const retried = await status('retried');
      expect(retried).toMatchObject({ status: 'completed', attempts: 2 });
      const queued = [];
      for (const key of ['q1', 'q2', 'q3']) queued.push(await status(key));
      for (const s of queued) expect(s).toMatchObject({ status: 'completed', attempts: 1 });
      // One at a time (TEST_CONCURRENCY 1), oldest first: the retried one, then q1, q2, q3.
      const starts = [retried, ...queued].map((s) => Date.parse(s.started_at as string));
      expect([...starts].sort((a, b) => a - b)).toEqual(starts);
      expect(new Set(starts).size).toBe(4);
      const results = await json(await fetch(`${url}/api/test/results/${ids.q1}`));
      expect(results).toMatchObject({ run_id: ids.q1, status: 'passed' });

      expect(await json(await fetch(`${url}/api/test/status/${ids.done}`))).toMatchObject({
        status: 'completed',
        attempts: 1,
      });
    } finally {
      await app.close();
    }
    const after = createDatabase(config.database);
    try {
      const sibling = await after
        .selectFrom('operations')
        .selectAll()
        .where('id', '=', ids.sibling!)
        .executeTakeFirstOrThrow();
      expect(sibling).toMatchObject({ status: 'running', attempts: 1 });
    } finally {
      await after.destroy();
    }
  } finally {
    await store.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
