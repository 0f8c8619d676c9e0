/** Starts a real server (Fastify on a free port, real SQLite file, real queue driver) for e2e specs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../src/bootstrap';
import { AppConfig, loadConfig } from '../src/common/config/app-config';
import { createScratchDatabase, DEFAULT_POSTGRES_ADMIN_URL } from '../src/common/store/scratch-postgres';
import { HF_TINY } from './fixtures';

export type Driver = 'embedded' | 'bullmq';

/** e2e specs run against both drivers when E2E_DRIVERS says so (CI: "embedded,bullmq"). */
export const DRIVERS: Driver[] = (
  (process.env.E2E_DRIVERS ?? 'embedded').split(',').filter(Boolean) as Driver[]
).filter((d) => d === 'embedded' || d === 'bullmq');

export type DatabaseKind = 'sqlite' | 'postgres';

function databaseFromEnv(): DatabaseKind {
  const raw = process.env.E2E_DATABASE || 'sqlite';
  if (raw !== 'sqlite' && raw !== 'postgres') {
    throw new Error(`E2E_DATABASE must be sqlite or postgres, got "${raw}"`);
  }
  return raw;
}

/** The store every server in this Jest run uses (E2E_DATABASE, default sqlite). */
export const E2E_DATABASE: DatabaseKind = databaseFromEnv();

/** A superuser connection to the PostgreSQL server e2e databases are created on. */
export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL || DEFAULT_POSTGRES_ADMIN_URL;

export interface ProvisionedDatabase {
  /** Environment for loadConfig (DATABASE_URL, or nothing for SQLite under DATA_DIR). */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** A store of its own for one server: nothing for SQLite, a new database for PostgreSQL. */
export async function provisionDatabase(database: DatabaseKind = E2E_DATABASE): Promise<ProvisionedDatabase> {
  if (database === 'sqlite') return { env: {}, drop: () => Promise.resolve() };
  const scratch = await createScratchDatabase(POSTGRES_ADMIN_URL, 'e2e');
  return { env: { DATABASE_URL: scratch.url }, drop: () => scratch.drop() };
}

export interface TestServer {
  app: NestFastifyApplication;
  url: string;
  wsUrl: string;
  config: AppConfig;
  dataDir: string;
  database: DatabaseKind;
  close(): Promise<void>;
}

export async function startServer(driver: Driver, env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipfs-accel-e2e-'));
  const redisPrefix = `e2e-${process.pid}-${Date.now()}`;
  // A spec that names its own DATABASE_URL keeps it; otherwise the run's database, fresh.
  const store: ProvisionedDatabase = env.DATABASE_URL
    ? { env: {}, drop: () => Promise.resolve() }
    : await provisionDatabase();
  const cleanup = async (): Promise<void> => {
    try {
      await store.drop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  };
  let app: NestFastifyApplication | undefined;
  try {
    const config = loadConfig({
      DATA_DIR: dataDir,
      MODEL_ROOTS: HF_TINY,
      HARDWARE: 'cpu,cuda,webgpu',
      LOG_LEVEL: 'error',
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR,
      ...(driver === 'bullmq'
        ? { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', QUEUE_PREFIX: redisPrefix }
        : {}),
      ...store.env,
      ...env,
    });
    app = await createApp(config);
    await app.listen(0, '127.0.0.1');
    const url = await app.getUrl();
    const started = app;
    return {
      app: started,
      url: url.replace('[::1]', '127.0.0.1'),
      wsUrl: url.replace(/^http/, 'ws'),
      config,
      dataDir,
      database: config.database.url?.startsWith('postgres') ? 'postgres' : 'sqlite',
      async close() {
        try {
          await started.close();
        } finally {
          await cleanup();
        }
      },
    };
  } catch (err) {
    await app?.close().catch(() => undefined);
    await cleanup().catch(() => undefined);
    throw err;
  }
}

/** POSTs a JSON body to a server's base URL. */
export function postJson(
  baseUrl: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** Polls a status route until the operation is terminal. */
export async function waitFor(
  url: string,
  timeoutMs = 120_000,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await json(await fetch(url, { headers }));
    if (['completed', 'failed', 'cancelled', 'timeout'].includes(body.status as string)) return body;
    if (Date.now() > deadline) throw new Error(`operation did not finish: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
