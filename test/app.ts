/** Starts a real server (Fastify on a free port, real SQLite file, real queue driver) for e2e specs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../src/bootstrap';
import { AppConfig, loadConfig } from '../src/common/config/app-config';
import { HF_TINY } from './fixtures';

export type Driver = 'embedded' | 'bullmq';

/** e2e specs run against both drivers when E2E_DRIVERS says so (CI: "embedded,bullmq"). */
export const DRIVERS: Driver[] = (
  (process.env.E2E_DRIVERS ?? 'embedded').split(',').filter(Boolean) as Driver[]
).filter((d) => d === 'embedded' || d === 'bullmq');

export interface TestServer {
  app: NestFastifyApplication;
  url: string;
  wsUrl: string;
  config: AppConfig;
  dataDir: string;
  close(): Promise<void>;
}

export async function startServer(driver: Driver, env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ipfs-accel-e2e-'));
  const redisPrefix = `e2e-${process.pid}-${Date.now()}`;
  const config = loadConfig({
    DATA_DIR: dataDir,
    MODEL_ROOTS: HF_TINY,
    HARDWARE: 'cpu,cuda,webgpu',
    LOG_LEVEL: 'error',
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR,
    ...(driver === 'bullmq'
      ? { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', QUEUE_PREFIX: redisPrefix }
      : {}),
    ...env,
  });
  const app = await createApp(config);
  await app.listen(0, '127.0.0.1');
  const url = await app.getUrl();
  return {
    app,
    url: url.replace('[::1]', '127.0.0.1'),
    wsUrl: url.replace(/^http/, 'ws'),
    config,
    dataDir,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
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
