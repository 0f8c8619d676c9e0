/**
 * ApiClient: the TypeScript SDK of the IPFS Accelerate server. Node's global fetch for REST, the `ws`
 * package for progress. Typed errors by status, retries with exponential backoff and jitter on
 * 429/502/503/504 and connection errors, a per-request timeout and an AbortSignal on every call.
 */
import WebSocket from 'ws';
import { APIConnectionError, ApiError, APITimeoutError, APIUserAbortError, NotFoundError } from './errors';
import {
  BatchGenerateAccepted,
  BenchmarkResults,
  BenchmarkRuns,
  BenchmarkRunsQuery,
  CancelResponse,
  CompareQuery,
  Comparison,
  GenerateAccepted,
  GenerateModelRequest,
  GenerationList,
  GenerationResults,
  HardwareList,
  Health,
  isTerminal,
  ListOperationsQuery,
  ModelListing,
  MonitorOptions,
  MonitorResult,
  OperationKind,
  OperationStatus,
  RequestOptions,
  RunBenchmarkAccepted,
  RunBenchmarkRequest,
  RunTestAccepted,
  RunTestRequest,
  Template,
  TestResults,
  TestRunList,
  TestType,
} from './types';

export * from './errors';
export * from './types';

export interface ApiClientOptions {
  /** e.g. http://localhost:8000 */
  baseUrl: string;
  /** Sent as X-API-Key (REST and WebSocket handshake). */
  apiKey?: string;
  /** Per-request timeout (default 30000). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 2). */
  maxRetries?: number;
  /** A fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
  /** WebSocket base (default: baseUrl with http→ws). */
  wsBaseUrl?: string;
  /** First retry delay before jitter (default 500 ms); doubles per retry, capped at 8 s. */
  retryBaseDelayMs?: number;
  /** A WebSocket that does not open within this falls back to polling (default 5000). */
  wsConnectTimeoutMs?: number;
}

interface CallOptions extends RequestOptions {
  query?: object;
  body?: unknown;
  /** 'text' returns the body as a string (CSV, Markdown, JUnit XML). */
  as?: 'json' | 'text';
}

const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const MAX_RETRY_DELAY_MS = 8000;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new APIUserAbortError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new APIUserAbortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function queryString(query: object | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** Retry-After (seconds or an HTTP date) and retry-after-ms, when sane (0..60 s). */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0 && ms <= 60_000) return ms;
  const raw = headers.get('retry-after');
  if (raw === null) return undefined;
  const seconds = Number(raw);
  const value = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(raw) - Date.now();
  return Number.isFinite(value) && value >= 0 && value <= 60_000 ? value : undefined;
}

export class ApiClient {
  readonly baseUrl: string;
  readonly wsBaseUrl: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  private readonly apiKey?: string;
  private readonly fetchImpl: typeof fetch;
  private readonly retryBaseDelayMs: number;
  private readonly wsConnectTimeoutMs: number;

  constructor(options: ApiClientOptions) {
    if (!options?.baseUrl) throw new Error('ApiClient: baseUrl is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.wsBaseUrl = (options.wsBaseUrl ?? this.baseUrl.replace(/^http/, 'ws')).replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = options.maxRetries ?? 2;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 500;
    this.wsConnectTimeoutMs = options.wsConnectTimeoutMs ?? 5000;
  }

  // ---- Test suite -------------------------------------------------------------------------------

  runTest(body: RunTestRequest, opts?: RequestOptions): Promise<RunTestAccepted> {
    return this.request('POST', '/api/test/run', { ...opts, body });
  }
  getTestStatus(runId: string, opts?: RequestOptions): Promise<OperationStatus> {
    return this.getStatus('test', runId, opts);
  }
  getTestResults(runId: string, opts?: RequestOptions & { format?: 'json' }): Promise<TestResults>;
  getTestResults(runId: string, opts: RequestOptions & { format: 'junit' }): Promise<string>;
  getTestResults(
    runId: string,
    opts: RequestOptions & { format?: 'json' | 'junit' } = {},
  ): Promise<TestResults | string> {
    const { format, ...rest } = opts;
    return this.request('GET', `/api/test/results/${encodeURIComponent(runId)}`, {
      ...rest,
      query: format ? { format } : undefined,
      as: format === 'junit' ? 'text' : 'json',
    });
  }
  cancelTest(runId: string, opts?: RequestOptions): Promise<CancelResponse> {
    return this.request('POST', `/api/test/cancel/${encodeURIComponent(runId)}`, opts);
  }
  listTestRuns(query?: ListOperationsQuery, opts?: RequestOptions): Promise<TestRunList> {
    return this.request('GET', '/api/test/runs', { ...opts, query });
  }
  getTestTypes(opts?: RequestOptions): Promise<TestType[]> {
    return this.request('GET', '/api/test/types', opts);
  }
  /** Polls until the run ends; resolves with the final status and, when completed, the results. */
  monitorTest(runId: string, opts?: MonitorOptions): Promise<MonitorResult<TestResults>> {
    return this.withResults('test', runId, this.poll('test', runId, opts), opts);
  }
  /** Follows /api/test/ws/{id}; falls back to polling when the socket fails. */
  monitorTestWs(runId: string, opts?: MonitorOptions): Promise<MonitorResult<TestResults>> {
    return this.withResults('test', runId, this.follow('test', runId, opts), opts);
  }

  // ---- Generator suite --------------------------------------------------------------------------

  generateModel(body: GenerateModelRequest, opts?: RequestOptions): Promise<GenerateAccepted> {
    return this.request('POST', '/api/generator/model', { ...opts, body });
  }
  generateBatch(models: GenerateModelRequest[], opts?: RequestOptions): Promise<BatchGenerateAccepted> {
    return this.request('POST', '/api/generator/batch', { ...opts, body: { models } });
  }
  getGenerationStatus(taskId: string, opts?: RequestOptions): Promise<OperationStatus> {
    return this.getStatus('generator', taskId, opts);
  }
  getGenerationResults(taskId: string, opts?: RequestOptions): Promise<GenerationResults> {
    return this.request('GET', `/api/generator/results/${encodeURIComponent(taskId)}`, opts);
  }
  cancelGeneration(taskId: string, opts?: RequestOptions): Promise<CancelResponse> {
    return this.request('POST', `/api/generator/cancel/${encodeURIComponent(taskId)}`, opts);
  }
  listGenerations(query?: ListOperationsQuery, opts?: RequestOptions): Promise<GenerationList> {
    return this.request('GET', '/api/generator/tasks', { ...opts, query });
  }
  getTemplates(opts?: RequestOptions): Promise<Template[]> {
    return this.request('GET', '/api/generator/templates', opts);
  }
  /** Resolves with the final status and, when completed, the results (file_path, js_path, ...). */
  monitorGeneration(
    taskId: string,
    opts?: MonitorOptions & { websocket?: boolean },
  ): Promise<MonitorResult<GenerationResults>> {
    const watch = opts?.websocket
      ? this.follow('generator', taskId, opts)
      : this.poll('generator', taskId, opts);
    return this.withResults('generator', taskId, watch, opts);
  }

  // ---- Benchmark suite --------------------------------------------------------------------------

  runBenchmark(body: RunBenchmarkRequest, opts?: RequestOptions): Promise<RunBenchmarkAccepted> {
    return this.request('POST', '/api/benchmark/run', { ...opts, body });
  }
  getBenchmarkStatus(runId: string, opts?: RequestOptions): Promise<OperationStatus> {
    return this.getStatus('benchmark', runId, opts);
  }
  getBenchmarkResults(runId: string, opts?: RequestOptions & { format?: 'json' }): Promise<BenchmarkResults>;
  getBenchmarkResults(runId: string, opts: RequestOptions & { format: 'csv' | 'markdown' }): Promise<string>;
  getBenchmarkResults(
    runId: string,
    opts: RequestOptions & { format?: 'json' | 'csv' | 'markdown' } = {},
  ): Promise<BenchmarkResults | string> {
    const { format, ...rest } = opts;
    return this.request('GET', `/api/benchmark/results/${encodeURIComponent(runId)}`, {
      ...rest,
      query: format ? { format } : undefined,
      as: format && format !== 'json' ? 'text' : 'json',
    });
  }
  cancelBenchmark(runId: string, opts?: RequestOptions): Promise<CancelResponse> {
    return this.request('POST', `/api/benchmark/cancel/${encodeURIComponent(runId)}`, opts);
  }
  monitorBenchmark(runId: string, opts?: MonitorOptions): Promise<MonitorResult<BenchmarkResults>> {
    return this.withResults('benchmark', runId, this.poll('benchmark', runId, opts), opts);
  }
  monitorBenchmarkWs(runId: string, opts?: MonitorOptions): Promise<MonitorResult<BenchmarkResults>> {
    return this.withResults('benchmark', runId, this.follow('benchmark', runId, opts), opts);
  }
  compareBenchmarks(query: CompareQuery, opts?: RequestOptions): Promise<Comparison> {
    return this.request('GET', '/api/benchmark/compare', { ...opts, query });
  }
  listBenchmarkRuns(query?: BenchmarkRunsQuery, opts?: RequestOptions): Promise<BenchmarkRuns> {
    return this.request('GET', '/api/benchmark/runs', { ...opts, query });
  }

  // ---- System -----------------------------------------------------------------------------------

  getHardware(opts?: RequestOptions): Promise<HardwareList> {
    return this.request('GET', '/api/hardware', opts);
  }
  getModels(opts?: RequestOptions): Promise<ModelListing[]> {
    return this.request('GET', '/api/models', opts);
  }
  health(opts?: RequestOptions): Promise<Health> {
    return this.request('GET', '/health', opts);
  }

  /** The lifecycle status of any operation. */
  getStatus(kind: OperationKind, id: string, opts?: RequestOptions): Promise<OperationStatus> {
    return this.request('GET', `/api/${kind}/status/${encodeURIComponent(id)}`, opts);
  }

  // ---- Monitoring -------------------------------------------------------------------------------

  private async withResults<R>(
    kind: OperationKind,
    id: string,
    watch: Promise<OperationStatus>,
    opts: MonitorOptions | undefined,
  ): Promise<MonitorResult<R>> {
    const status = await watch;
    if (status.status !== 'completed') return { status };
    const results = await this.request<R>('GET', `/api/${kind}/results/${encodeURIComponent(id)}`, {
      signal: opts?.signal,
    });
    return { status, results };
  }

  /** Polls the status route until a terminal state. */
  private async poll(kind: OperationKind, id: string, opts: MonitorOptions = {}): Promise<OperationStatus> {
    const interval = Math.max(10, opts.intervalMs ?? 500);
    const deadline = opts.maxWaitMs !== undefined ? Date.now() + opts.maxWaitMs : Infinity;
    let last = '';
    for (;;) {
      const status = await this.getStatus(kind, id, { signal: opts.signal });
      const text = JSON.stringify(status);
      if (text !== last) {
        last = text;
        opts.onProgress?.(status);
      }
      if (isTerminal(status.status)) return status;
      if (Date.now() + interval > deadline) throw new APITimeoutError(`${kind} ${id} did not finish in time`);
      await sleep(interval, opts.signal);
    }
  }

  /**
   * Follows the WebSocket until the final status. When the socket cannot open, errors, closes before
   * a terminal status, or goes silent (no answer to a `status` heartbeat), it polls instead.
   */
  private follow(kind: OperationKind, id: string, opts: MonitorOptions = {}): Promise<OperationStatus> {
    const { signal, onProgress } = opts;
    if (signal?.aborted) return Promise.reject(new APIUserAbortError());
    const started = Date.now();
    const heartbeatMs = Math.max(1000, (opts.intervalMs ?? 500) * 20);
    return new Promise<OperationStatus>((resolve, reject) => {
      const url = `${this.wsBaseUrl}/api/${kind}/ws/${encodeURIComponent(id)}`;
      const headers: Record<string, string> = this.apiKey ? { 'x-api-key': this.apiKey } : {};
      let settled = false;
      let final: OperationStatus | undefined;
      let notFound = false;
      let lastMessageAt = Date.now();
      let socket: WebSocket | undefined;
      const timers: NodeJS.Timeout[] = [];

      const cleanup = (): void => {
        for (const t of timers) clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        if (socket) {
          socket.removeAllListeners();
          socket.on('error', () => undefined);
          if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)
            socket.terminate();
        }
      };
      const finish = (status: OperationStatus): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve(status);
      };
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(err);
      };
      const fallBack = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        if (notFound)
          return reject(
            new NotFoundError(
              404,
              { message: `no ${kind} operation with id ${id}` },
              undefined,
              new Headers(),
            ),
          );
        const maxWaitMs =
          opts.maxWaitMs !== undefined ? Math.max(0, opts.maxWaitMs - (Date.now() - started)) : undefined;
        this.poll(kind, id, { ...opts, maxWaitMs }).then(resolve, reject);
      };
      const onAbort = (): void => fail(new APIUserAbortError());
      signal?.addEventListener('abort', onAbort, { once: true });

      try {
        socket = new WebSocket(url, { headers, handshakeTimeout: this.wsConnectTimeoutMs });
      } catch {
        return fallBack();
      }
      let lastSent = '';
      timers.push(
        setTimeout(() => socket?.readyState !== WebSocket.OPEN && fallBack(), this.wsConnectTimeoutMs),
      );
      timers.push(
        setInterval(() => {
          if (Date.now() - lastMessageAt > 2 * heartbeatMs) return fallBack();
          if (socket?.readyState === WebSocket.OPEN) socket.send('status');
        }, heartbeatMs),
      );
      if (opts.maxWaitMs !== undefined) {
        timers.push(
          setTimeout(() => fail(new APITimeoutError(`${kind} ${id} did not finish in time`)), opts.maxWaitMs),
        );
      }
      socket.on('message', (data) => {
        lastMessageAt = Date.now();
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(String(data)) as Record<string, unknown>;
        } catch {
          return;
        }
        if (typeof msg.error === 'string' && !('status' in msg)) {
          if (/^no \w+ operation with id/.test(msg.error)) notFound = true;
          return;
        }
        if (typeof msg.status !== 'string' || typeof msg.id !== 'string') return;
        const status = msg as unknown as OperationStatus;
        const text = JSON.stringify(status);
        if (text !== lastSent) {
          lastSent = text;
          try {
            onProgress?.(status);
          } catch (err) {
            return fail(err);
          }
        }
        if (isTerminal(status.status)) {
          final = status;
          finish(status);
        }
      });
      socket.on('close', () => (final ? finish(final) : fallBack()));
      socket.on('error', () => fallBack());
    });
  }

  // ---- HTTP core --------------------------------------------------------------------------------

  private async request<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
    const url = `${this.baseUrl}${path}${queryString(opts.query)}`;
    const maxRetries = opts.maxRetries ?? this.maxRetries;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const headers: Record<string, string> = { accept: opts.as === 'text' ? '*/*' : 'application/json' };
    if (this.apiKey) headers['x-api-key'] = this.apiKey;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const body = opts.body !== undefined ? JSON.stringify(opts.body) : undefined;

    for (let attempt = 0; ; attempt++) {
      if (opts.signal?.aborted) throw new APIUserAbortError();
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs);
      const onAbort = (): void => controller.abort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      let error: ApiError;
      let retryHeaders: Headers | undefined;
      try {
        const response = await this.fetchImpl(url, { method, headers, body, signal: controller.signal });
        const text = await response.text();
        if (response.ok) {
          if (opts.as === 'text') return text as T;
          return (text ? JSON.parse(text) : undefined) as T;
        }
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // not JSON: keep the text
        }
        error = ApiError.generate(
          response.status,
          parsed,
          response.statusText || undefined,
          response.headers,
        );
        if (!RETRY_STATUSES.has(response.status)) throw error;
        retryHeaders = response.headers;
      } catch (err) {
        if (err instanceof ApiError) throw err;
        if (opts.signal?.aborted) throw new APIUserAbortError();
        if (timedOut)
          error = new APITimeoutError(`Request timed out after ${timeoutMs} ms: ${method} ${path}`);
        else if (err instanceof SyntaxError)
          throw new ApiError(undefined, undefined, `invalid JSON from ${path}`);
        else
          error = new APIConnectionError(`Connection error: ${method} ${url}: ${describe(err)}`, {
            cause: err,
          });
      } finally {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      }
      if (attempt >= maxRetries) throw error;
      await sleep(this.retryDelay(attempt, retryHeaders), opts.signal);
    }
  }

  /** Retry-After when the server sent a sane one, else exponential backoff with up to 25% jitter. */
  private retryDelay(attempt: number, headers: Headers | undefined): number {
    const given = retryAfterMs(headers);
    if (given !== undefined) return given;
    const base = Math.min(this.retryBaseDelayMs * 2 ** attempt, MAX_RETRY_DELAY_MS);
    return base * (1 - Math.random() * 0.25);
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
