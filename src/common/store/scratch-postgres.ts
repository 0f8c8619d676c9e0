/**
 * Throw-away PostgreSQL databases for specs: created on a server the caller names by an admin URL
 * (a superuser, or a role with CREATEDB), dropped afterwards. Nothing in the server uses this.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** Where specs find PostgreSQL unless TEST_POSTGRES_URL says otherwise. */
export const DEFAULT_POSTGRES_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ScratchDatabase {
  name: string;
  /** Connection URL of the new database (the admin URL with its database swapped). */
  url: string;
  /** Ends every connection to it and drops it; safe to call twice. */
  drop(): Promise<void>;
}

let counter = 0;

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

async function withAdmin<T>(adminUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${redact(adminUrl)}: ${(err as Error).message || String(err)}`,
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates `<prefix>_<pid>_<n>_<random>` and returns its URL. */
export async function createScratchDatabase(adminUrl: string, prefix: string): Promise<ScratchDatabase> {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(prefix)) throw new Error(`bad scratch database prefix "${prefix}"`);
  const name = `${prefix}_${process.pid}_${++counter}_${randomBytes(3).toString('hex')}`;
  await withAdmin(adminUrl, (c) => c.query(`create database "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdmin(adminUrl, async (c) => {
        await c.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [name],
        );
        await c.query(`drop database if exists "${name}"`);
      });
    },
  };
}
