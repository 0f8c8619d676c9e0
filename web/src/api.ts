/**
 * The dashboard's only way to the server: the JSON API, typed with the SDK's types (taken from the
 * server's DTOs), with the API key the user entered (kept in sessionStorage, sent as X-API-Key and as
 * api_key on WebSockets, the two ways the server accepts it).
 */
import type {
  Backend,
  BenchmarkResults,
  Comparison,
  ErrorBody,
  GenerationResults,
  ModelListing,
  OperationStatus,
  TestResults,
} from '../../libs/client/src/index';

export type {
  Backend,
  BenchmarkResults,
  Comparison,
  ErrorBody,
  GenerationResults,
  ModelListing,
  OperationStatus,
  TestResults,
};

export type Suite = 'test' | 'generator' | 'benchmark';
export const SUITES: Suite[] = ['benchmark', 'test', 'generator'];

const KEY_STORAGE = 'ipfs-accelerate.api-key';

export function apiKey(): string {
  return sessionStorage.getItem(KEY_STORAGE) ?? '';
}

export function setApiKey(key: string): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** A 4xx/5xx answer, with the server's error body. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: Partial<ErrorBody>,
  ) {
    super(Array.isArray(body.message) ? body.message.join('; ') : (body.message ?? `HTTP ${status}`));
  }

  /** The validation messages (400 `details`), one per problem. */
  get messages(): string[] {
    const d = this.body.details;
    return Array.isArray(d) ? d.map(String) : [this.message];
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = apiKey();
  if (key) headers['x-api-key'] = key;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = { message: text };
  }
  if (!res.ok) throw new ApiFailure(res.status, (parsed ?? {}) as Partial<ErrorBody>);
  return parsed as T;
}

/** A query string from the set fields of an object. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Each suite's routes (the generator's differ in shape). */
export const ROUTES: Record<
  Suite,
  { list: string; status: string; results: string; cancel: string; ws: string; start: string }
> = {
  benchmark: {
    list: '/api/benchmark/operations',
    status: '/api/benchmark/status/',
    results: '/api/benchmark/results/',
    cancel: '/api/benchmark/cancel/',
    ws: '/api/benchmark/ws/',
    start: '/api/benchmark/run',
  },
  test: {
    list: '/api/test/runs',
    status: '/api/test/status/',
    results: '/api/test/results/',
    cancel: '/api/test/cancel/',
    ws: '/api/test/ws/',
    start: '/api/test/run',
  },
  generator: {
    list: '/api/generator/tasks',
    status: '/api/generator/status/',
    results: '/api/generator/results/',
    cancel: '/api/generator/cancel/',
    ws: '/api/generator/ws/',
    start: '/api/generator/model',
  },
};

export interface Page {
  items: OperationStatus[];
  next_cursor: string | null;
}

/** The WebSocket URL of an operation, with the key as the query parameter the server accepts. */
export function socketUrl(suite: Suite, id: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const key = apiKey();
  return `${proto}//${location.host}${ROUTES[suite].ws}${encodeURIComponent(id)}${key ? `?api_key=${encodeURIComponent(key)}` : ''}`;
}
