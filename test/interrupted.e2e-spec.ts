/** Operations an earlier embedded process left unfinished become failed INTERRUPTED at start-up. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/bootstrap';
import { loadConfig } from '../src/common/config/app-config';
import { createDatabase, migrate } from '../src/common/store/database';
import { json, provisionDatabase } from './app';

jest.setTimeout(60_000);

it('marks queued and running operations of an earlier process failed with INTERRUPTED', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipfs-accel-interrupted-'));
  const store = await provisionDatabase();
  try {
    const config = loadConfig({ DATA_DIR: dataDir, HARDWARE: 'cpu', LOG_LEVEL: 'silent', ...store.env });
    // What a killed process leaves behind: rows in the real store (SQLite file or PostgreSQL).
    const db = createDatabase(config.database);
    await migrate(db);
    const now = new Date().toISOString();
    const ids = { queued: randomUUID(), running: randomUUID(), completed: randomUUID() };
    for (const [status, id] of Object.entries(ids)) {
      await db
        .insertInto('operations')
        .values({
          id,
          kind: 'test',
          status,
          model_name: 'bert',
          request: '{}',
          progress: 0.5,
          current_step: 'x',
          result: status === 'completed' ? '{}' : null,
          error: null,
          created_at: now,
          started_at: now,
          finished_at: null,
          updated_at: now,
          deadline_at: null,
        })
        .execute();
    }
    await db.destroy();

    const app = await createApp(config);
    await app.listen(0, '127.0.0.1');
    const url = await app.getUrl();
    try {
      for (const key of ['queued', 'running'] as const) {
        const body = await json(await fetch(`${url}/api/test/status/${ids[key]}`));
        expect(body).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
      }
      const done = await json(await fetch(`${url}/api/test/status/${ids.completed}`));
      expect(done.status).toBe('completed');
    } finally {
      await app.close();
    }
  } finally {
    await store.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
