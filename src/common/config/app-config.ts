/**
 * Configuration: read from the environment once at start-up, validated, frozen into one typed
 * object. Nothing else in the server reads process.env.
 */
import { totalmem } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { BACKEND_NAMES, BackendName, isBackendName } from '../../../libs/core/src/types';

export const COMPONENTS = ['test', 'generator', 'benchmark'] as const;
export type Component = (typeof COMPONENTS)[number];
export const ROLES = ['all', 'api', 'worker'] as const;
/** The largest MAX_OPERATION_S (and request `timeout`): one day. */
export const MAX_OPERATION_S_LIMIT = 86_400;
export type Role = (typeof ROLES)[number];

export interface AppConfig {
  readonly host: string;
  readonly port: number;
  /** Generated models, SQLite file, temporary copies. */
  readonly dataDir: string;
  /** Bound on DATA_DIR/models/.cache (registry models generated on demand), evicted LRU beyond it. */
  readonly modelCacheMaxBytes: number;
  /** Extra folders a client may name models in (DATA_DIR is always allowed). */
  readonly modelRoots: string[];
  /** Backends the server offers; a request for another is unavailable. */
  readonly hardware: BackendName[];
  readonly queue: {
    readonly driver: 'embedded' | 'bullmq';
    readonly redisUrl?: string;
    /** Key prefix in Redis, so several deployments (or test runs) can share one server. */
    readonly prefix: string;
    /** Concurrent jobs per queue in one process. */
    readonly concurrency: Record<Component, number>;
    /** BullMQ job lock: a worker that dies is noticed (and its job retried) within about this long. */
    readonly lockDurationMs: number;
    /** How often a worker announces itself (GET /api/workers). */
    readonly heartbeatMs: number;
    /** How long a job may wait for a worker offering its backends before it fails. */
    readonly backendWaitS: number;
    /** Longest wait for Redis on a request's path (enqueue, cancel, workers, health): then 503. */
    readonly redisTimeoutMs: number;
    /** Jobs waiting per queue beyond which a POST answers 429 (QUEUE_FULL) before anything is stored. */
    readonly maxDepth: number;
    /**
     * Starts a job may have: one found running after a crash (or a stalled BullMQ job) is started
     * again while its attempts are below this, else it ends failed INTERRUPTED. 1: never retried.
     */
    readonly maxAttempts: number;
  };
  readonly database: {
    readonly url?: string;
    readonly sqlitePath: string;
    /** PostgreSQL: longest wait for a connection or a query's answer before the store counts as down (503). */
    readonly timeoutMs: number;
  };
  /** WebSocket: most sockets open at once; an upgrade beyond it is answered 503. */
  readonly wsMaxConnections: number;
  readonly apiKey?: string;
  readonly corsOrigins: string[] | boolean;
  readonly bodyLimitBytes: number;
  /**
   * Every operation's deadline, in seconds, at most: a request's `timeout` above it is a 400, and an
   * operation stored without a timeout (older rows) gets it.
   */
  readonly maxOperationS: number;
  readonly components: Component[];
  readonly role: Role;
  /** Time limit for opening a tiny session on each execution provider. */
  readonly detectTimeoutMs: number;
  readonly logLevel: 'silent' | 'error' | 'warn' | 'log' | 'debug';
  /** `json`: one pino JSON line per log (default); `pretty`: Nest's coloured console lines. */
  readonly logFormat: 'json' | 'pretty';
  /** Budgets an operation must fit before it is accepted (422 BUDGET_EXCEEDED otherwise). */
  readonly admission: {
    /** Estimated peak memory one operation may need, bytes (MEMORY_BUDGET). */
    readonly memoryBytes: number;
    /** Free space to keep on DATA_DIR's filesystem (DISK_MIN_FREE): bytes, or a fraction of its size. */
    readonly diskMinFree: { readonly bytes: number } | { readonly fraction: number };
  };
  /** Environment facts the backends word their reasons with. */
  readonly environment: { XDG_RUNTIME_DIR?: string; LD_LIBRARY_PATH?: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[,:;]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function int(env: Env, key: string, fallback: number, min: number, max: number, problems: string[]): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${key} must be an integer in [${min}, ${max}], got "${raw}"`);
    return fallback;
  }
  return n;
}

function oneOf<T extends string>(
  env: Env,
  key: string,
  allowed: readonly T[],
  fallback: T,
  problems: string[],
): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    problems.push(`${key} must be one of ${allowed.join(', ')}, got "${raw}"`);
    return fallback;
  }
  return raw as T;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** `75%`, `16GiB`, `500 MB`, `1073741824`: a fraction or a byte count. */
function sizeOrPercent(
  env: Env,
  key: string,
  fallback: string,
  problems: string[],
): { bytes: number } | { fraction: number } {
  const raw = (env[key] || fallback).trim();
  const m = /^(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b|b)?$/i.exec(raw);
  if (m) {
    const value = Number(m[1]);
    const unit = (m[2] ?? '').toLowerCase();
    if (unit === '%') {
      if (value <= 100) return { fraction: value / 100 };
    } else if (UNITS[unit] !== undefined) return { bytes: Math.round(value * UNITS[unit]) };
  }
  problems.push(`${key} must be a size (e.g. 16GiB, 500MB, bytes) or a percentage up to 100%, got "${raw}"`);
  return sizeOrPercent({}, key, fallback, []);
}

/** Reads and validates the configuration; throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env, overrides: Partial<AppConfig> = {}): AppConfig {
  const problems: string[] = [];
  const dataDir = resolve(env.DATA_DIR || './data');
  const modelRoots = list(env.MODEL_ROOTS).map((r) => resolve(r));
  for (const r of list(env.MODEL_ROOTS))
    if (!isAbsolute(r)) problems.push(`MODEL_ROOTS entries must be absolute paths, got "${r}"`);

  const hardwareNames = env.HARDWARE ? list(env.HARDWARE) : [...BACKEND_NAMES];
  const hardware: BackendName[] = [];
  for (const h of hardwareNames) {
    if (isBackendName(h)) hardware.push(h);
    else problems.push(`HARDWARE entries must be among ${BACKEND_NAMES.join(', ')}, got "${h}"`);
  }
  if (hardwareNames.length === 0) problems.push('HARDWARE must name at least one backend');

  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    problems.push(`REDIS_URL must start with redis:// or rediss://`);
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^(postgres(ql)?|sqlite):/.test(databaseUrl)) {
    problems.push('DATABASE_URL must be postgres://... or sqlite:<path>');
  }
  const sqlitePath = databaseUrl?.startsWith('sqlite:')
    ? databaseUrl.slice('sqlite:'.length) === ':memory:'
      ? ':memory:'
      : resolve(databaseUrl.slice('sqlite:'.length))
    : resolve(dataDir, 'ipfs-accelerate.sqlite');

  const components = env.COMPONENTS ? list(env.COMPONENTS) : [...COMPONENTS];
  for (const c of components) {
    if (!(COMPONENTS as readonly string[]).includes(c))
      problems.push(`COMPONENTS entries must be among ${COMPONENTS.join(', ')}, got "${c}"`);
  }

  const apiKey = env.API_KEY || undefined;
  if (apiKey !== undefined && apiKey.length < 8) problems.push('API_KEY must be at least 8 characters');

  const cors = env.CORS_ORIGINS;
  const corsOrigins: string[] | boolean =
    cors === undefined || cors === ''
      ? false
      : cors === '*'
        ? true
        : cors
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);

  const config: AppConfig = {
    host: env.HOST || '0.0.0.0',
    port: int(env, 'PORT', 8000, 0, 65535, problems),
    dataDir,
    modelCacheMaxBytes: int(
      env,
      'MODEL_CACHE_MAX_BYTES',
      20 * 1024 ** 3,
      0,
      Number.MAX_SAFE_INTEGER,
      problems,
    ),
    modelRoots,
    hardware,
    queue: {
      driver: redisUrl ? 'bullmq' : 'embedded',
      redisUrl,
      prefix: env.QUEUE_PREFIX || 'ipfs-accelerate',
      concurrency: {
        test: int(env, 'TEST_CONCURRENCY', 2, 1, 64, problems),
        generator: int(env, 'GENERATOR_CONCURRENCY', 1, 1, 64, problems),
        benchmark: int(env, 'BENCHMARK_CONCURRENCY', 1, 1, 64, problems),
      },
      lockDurationMs: int(env, 'WORKER_LOCK_MS', 30_000, 1000, 3_600_000, problems),
      heartbeatMs: int(env, 'WORKER_HEARTBEAT_MS', 2000, 100, 60_000, problems),
      backendWaitS: int(env, 'BACKEND_WAIT_S', 600, 1, 86_400 * 7, problems),
      redisTimeoutMs: int(env, 'REDIS_TIMEOUT_MS', 2000, 100, 60_000, problems),
      maxDepth: int(env, 'QUEUE_MAX_DEPTH', 1000, 1, 1_000_000, problems),
      maxAttempts: int(env, 'JOB_MAX_ATTEMPTS', 2, 1, 10, problems),
    },
    database: {
      url: databaseUrl,
      sqlitePath,
      timeoutMs: int(env, 'DATABASE_TIMEOUT_MS', 2000, 100, 600_000, problems),
    },
    wsMaxConnections: int(env, 'WS_MAX_CONNECTIONS', 10_000, 1, 1_000_000, problems),
    apiKey,
    corsOrigins,
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024, problems),
    maxOperationS: int(env, 'MAX_OPERATION_S', MAX_OPERATION_S_LIMIT, 1, MAX_OPERATION_S_LIMIT, problems),
    components: components.filter((c): c is Component => (COMPONENTS as readonly string[]).includes(c)),
    role: oneOf(env, 'ROLE', ROLES, 'all', problems),
    detectTimeoutMs: int(env, 'DETECT_TIMEOUT_MS', 30_000, 100, 600_000, problems),
    logLevel: oneOf(env, 'LOG_LEVEL', ['silent', 'error', 'warn', 'log', 'debug'] as const, 'log', problems),
    logFormat: oneOf(env, 'LOG_FORMAT', ['json', 'pretty'] as const, 'json', problems),
    admission: admissionBudgets(env, problems),
    environment: { XDG_RUNTIME_DIR: env.XDG_RUNTIME_DIR, LD_LIBRARY_PATH: env.LD_LIBRARY_PATH },
    ...overrides,
  };
  if (config.role !== 'all' && config.queue.driver !== 'bullmq') {
    problems.push(`ROLE=${config.role} needs REDIS_URL: API and worker processes share work through BullMQ`);
  }
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(config);
}

function admissionBudgets(env: Env, problems: string[]): AppConfig['admission'] {
  const memory = sizeOrPercent(env, 'MEMORY_BUDGET', '75%', problems);
  const memoryBytes = 'bytes' in memory ? memory.bytes : Math.floor(memory.fraction * totalmem());
  if (memoryBytes <= 0) problems.push('MEMORY_BUDGET must be more than 0');
  return { memoryBytes, diskMinFree: sizeOrPercent(env, 'DISK_MIN_FREE', '5%', problems) };
}
